package validate

import (
	"flag"
	"fmt"
	"os"
	"strings"
	"testing"
)

var updateDocs = flag.Bool("update", false, "rewrite CODES.md from the code table")

// codesMarkdown renders the code table; CODES.md is this, committed.
func codesMarkdown() string {
	var b strings.Builder
	b.WriteString("# Diagnostic codes of `smtptls validate`\n\n")
	b.WriteString("Generated from the code table in `codes.go` by `go generate ./validate`; do not edit.\n")
	b.WriteString("Codes are stable: scripts may branch on them (`--json`). Messages may change.\n")
	b.WriteString("In hints, KEYFILE and CERTFILE are replaced with your file names; {name} parts are filled in per finding.\n\n")
	b.WriteString("| Code | Severity | Meaning | What to do |\n|---|---|---|---|\n")
	for _, c := range Codes() {
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s |\n", c, CodeSeverity(c), CodeAbout(c), strings.ReplaceAll(CodeHint(c), "|", `\|`))
	}
	return b.String()
}

func TestCodesDocIsCurrent(t *testing.T) {
	want := codesMarkdown()
	if *updateDocs {
		if err := os.WriteFile("CODES.md", []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile("CODES.md")
	if err != nil || string(got) != want {
		t.Fatalf("CODES.md is stale: run go generate ./validate (%v)", err)
	}
	for _, c := range Codes() {
		if CodeAbout(c) == "" {
			t.Errorf("%s has no meaning line", c)
		}
	}
}
