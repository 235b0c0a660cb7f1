package tui

import (
	"strings"
	"testing"

	"github.com/smtptls/smtptls/apply"
	"github.com/smtptls/smtptls/validate"
)

// Run as printed by root, a command without --config-dir acts on
// /etc/smtptls and port 25: every command the wizard prints for another
// directory names it.
func TestPrintedCommandsNameTheConfigDir(t *testing.T) {
	for _, dir := range []string{"/tmp/smtptls-try", "/etc/smtptls"} {
		t.Run(dir, func(t *testing.T) {
			flag := " --config-dir " + dir
			if dir == "/etc/smtptls" {
				flag = ""
			}
			want := func(h *harness, cmds ...string) {
				t.Helper()
				got := noSpace(joinLines(h.view()))
				for _, c := range cmds {
					if !strings.Contains(got, noSpace(c)) {
						t.Fatalf("the screen lacks %q:\n%s", c, h.view())
					}
				}
				if flag == "" && strings.Contains(got, "--config-dir") {
					t.Fatalf("--config-dir printed for the default dir:\n%s", h.view())
				}
			}

			h := newHarness(t)
			h.dir = dir
			h.installed = installedFixture(t, dir, pki(t, "leaf.pem"), pki(t, "leaf.key"))
			h.installed.NeedsAttention = []string{
				"the listener is not running: start it with `smtptls serve --detach`",
				"the listener serves another certificate: run `smtptls reload`",
			}
			h.result = apply.Result{FailedStep: apply.StepReload, Field: validate.FieldCertificate,
				Message: "the listener did not take the new configuration; the old one still serves: run `smtptls status` to see why"}
			h.start(100, 50)
			h.wantScreen("Needs attention")
			want(h, "`smtptls serve"+flag+" --detach`", "`smtptls reload"+flag+"`")

			h.press("tab", "enter", "tab", "tab", "tab")
			h.wantScreen("Review")
			want(h, "`smtptls rollback"+flag+"` returns to it")

			h.press("enter")
			h.wantScreen("Result")
			want(h, "`smtptls status"+flag+"` to see why")
		})
	}
}
