package postfix

// PickListenForTest runs the master.cf and inet_interfaces logic on text.
func PickListenForTest(master, interfaces, protocols string) (Listen, error) {
	return pickListen(parseServices(master), interfaces, protocols)
}
