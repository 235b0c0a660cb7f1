package cmdline

import "testing"

func TestForDirAddsTheConfigDirToQuotedCommands(t *testing.T) {
	for _, tc := range []struct{ in, dir, def, want string }{
		{"start it with `smtptls serve --detach`", "/tmp/try", "/etc/smtptls", "start it with `smtptls serve --config-dir /tmp/try --detach`"},
		{"run `smtptls reload` now, or `smtptls rollback --to G`", "/tmp/try", "/etc/smtptls", "run `smtptls reload --config-dir /tmp/try` now, or `smtptls rollback --config-dir /tmp/try --to G`"},
		{"run `smtptls reload`", "/etc/smtptls", "/etc/smtptls", "run `smtptls reload`"},
		{"run `smtptls validate` for each", "/tmp/try", "/etc/smtptls", "run `smtptls validate` for each"},
		{"`smtptls status --config-dir /x`", "/tmp/try", "/etc/smtptls", "`smtptls status --config-dir /x`"},
		{"`smtptls status`", "/tmp/my dir", "/etc/smtptls", "`smtptls status --config-dir '/tmp/my dir'`"},
	} {
		if got := ForDir(tc.in, tc.dir, tc.def); got != tc.want {
			t.Errorf("ForDir(%q, %q) = %q, want %q", tc.in, tc.dir, got, tc.want)
		}
	}
}
