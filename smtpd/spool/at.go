package spool

import "golang.org/x/sys/unix"

func renameat(fromDir int, from string, toDir int, to string) error {
	return unix.Renameat(fromDir, from, toDir, to)
}

func unlinkat(dir int, name string) error {
	return unix.Unlinkat(dir, name, 0)
}
