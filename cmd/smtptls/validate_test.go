package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The fixtures are checked at this time (see validate/internal/gen).
var validateFixtureNow = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

func validateCase(name string) (cert, key, ca string) {
	d := filepath.Join("..", "..", "testdata", "cases", name)
	return filepath.Join(d, "cert.pem"), filepath.Join(d, "key.pem"), filepath.Join(d, "ca.pem")
}

func validateRun(t *testing.T, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	e := &env{stdin: strings.NewReader(stdin), stdout: &out, stderr: &errb, now: func() time.Time { return validateFixtureNow }}
	code = run(context.Background(), e, append([]string{"validate"}, args...))
	return code, out.String(), errb.String()
}

type validateDoc struct {
	OK          bool                       `json:"ok"`
	Diagnostics []map[string]any           `json:"diagnostics"`
	Summary     map[string]json.RawMessage `json:"summary"`
}

// validateJSONRun runs with --json and insists on exactly one object.
func validateJSONRun(t *testing.T, args ...string) (int, validateDoc) {
	t.Helper()
	code, out, errOut := validateRun(t, "", append(args, "--json")...)
	dec := json.NewDecoder(strings.NewReader(out))
	var doc validateDoc
	if err := dec.Decode(&doc); err != nil {
		t.Fatalf("stdout is not JSON: %v\n%s\nstderr: %s", err, out, errOut)
	}
	if _, err := dec.Token(); err != io.EOF {
		t.Fatalf("more than one JSON value on stdout:\n%s", out)
	}
	for _, d := range doc.Diagnostics {
		for _, k := range []string{"severity", "field", "code", "message", "hint", "line"} {
			if _, ok := d[k]; !ok {
				t.Errorf("diagnostic lacks %q: %v", k, d)
			}
		}
	}
	return code, doc
}

func validateCodes(doc validateDoc) []string {
	var cs []string
	for _, d := range doc.Diagnostics {
		cs = append(cs, fmt.Sprint(d["code"]))
	}
	return cs
}

func TestValidateGoodExit0(t *testing.T) {
	cert, key, ca := validateCase("ok_ecdsa_pkcs8")
	code, out, errOut := validateRun(t, "", "--cert", cert, "--key", key, "--ca", ca, "--hostname", "mail.example.test")
	if code != exitOK || errOut != "" {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	if !strings.HasPrefix(out, "Certificate summary") || !strings.Contains(out, "mail.example.test (covered)") || !strings.Contains(out, "DANE TLSA:    3 1 1 ") || !strings.Contains(out, "OK: certificate, key and chain are ready to apply.") {
		t.Errorf("report:\n%s", out)
	}
	if strings.Contains(out, "\x1b[") {
		t.Error("colors on a buffer")
	}
	code, doc := validateJSONRun(t, "--cert", cert, "--key", key, "--ca", ca)
	if code != exitOK || !doc.OK || doc.Diagnostics == nil || len(doc.Diagnostics) != 0 {
		t.Fatalf("json: exit %d %+v", code, doc)
	}
	var tlsa string
	if err := json.Unmarshal(doc.Summary["tlsa"], &tlsa); err != nil || !strings.HasPrefix(tlsa, "3 1 1 ") || len(tlsa) != 6+64 {
		t.Errorf("summary tlsa %q", tlsa)
	}
}

func TestValidateExitCodesAndJSON(t *testing.T) {
	for _, tc := range []struct {
		fixture string
		extra   []string
		code    int
		ok      bool
		want    string
	}{
		{"key_mismatch", nil, exitFail, false, "key_mismatch"},
		{"chain_no_root", nil, exitOK, true, "chain_no_root"},       // a warning only
		{"bundle_reordered", nil, exitOK, true, "bundle_reordered"}, // info only
		{"cert_hostname_mismatch", []string{"--hostname", "mail.example.test"}, exitOK, true, "cert_hostname_mismatch"},
		{"cert_expired", nil, exitFail, false, "cert_expired"},
		{"key_encrypted_legacy", nil, exitFail, false, "key_encrypted"},
		{"wrong_block_csr", nil, exitFail, false, "wrong_block_csr"},
	} {
		t.Run(tc.fixture, func(t *testing.T) {
			cert, key, ca := validateCase(tc.fixture)
			code, doc := validateJSONRun(t, append([]string{"--cert", cert, "--key", key, "--ca", ca}, tc.extra...)...)
			if code != tc.code || doc.OK != tc.ok {
				t.Errorf("exit %d ok %v, want %d %v (%v)", code, doc.OK, tc.code, tc.ok, validateCodes(doc))
			}
			if cs := validateCodes(doc); len(cs) != 1 || cs[0] != tc.want {
				t.Errorf("codes %v, want [%s]", cs, tc.want)
			}
			code2, out, _ := validateRun(t, "", append([]string{"--cert", cert, "--key", key, "--ca", ca}, tc.extra...)...)
			if code2 != code || !strings.Contains(out, "["+tc.want+"]") {
				t.Errorf("text: exit %d\n%s", code2, out)
			}
		})
	}
}

func TestValidateHintsNameTheFiles(t *testing.T) {
	cert, key, ca := validateCase("key_encrypted_pkcs8")
	_, doc := validateJSONRun(t, "--cert", cert, "--key", key, "--ca", ca)
	if len(doc.Diagnostics) != 1 || !strings.Contains(fmt.Sprint(doc.Diagnostics[0]["hint"]), "openssl pkey -in "+key+" -out key-unencrypted.pem") {
		t.Errorf("hint does not give the command for this key file: %v", doc.Diagnostics)
	}
}

func TestValidatePassphraseFile(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "pass")
	if err := os.WriteFile(good, []byte("correct horse battery staple\r\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(dir, "bad")
	if err := os.WriteFile(bad, []byte("wrong\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, fx := range []string{"key_encrypted_pkcs8", "key_encrypted_legacy"} {
		cert, key, ca := validateCase(fx)
		if code, doc := validateJSONRun(t, "--cert", cert, "--key", key, "--ca", ca, "--key-passphrase-file", good); code != exitOK || !doc.OK {
			t.Errorf("%s with the right pass phrase: exit %d %v", fx, code, validateCodes(doc))
		}
		if code, doc := validateJSONRun(t, "--cert", cert, "--key", key, "--ca", ca, "--key-passphrase-file", bad); code != exitFail || strings.Join(validateCodes(doc), ",") != "key_passphrase_wrong" {
			t.Errorf("%s with a wrong pass phrase: exit %d %v", fx, code, validateCodes(doc))
		}
		code, out, _ := validateRun(t, "correct horse battery staple\n", "--cert", cert, "--key", key, "--ca", ca, "--key-passphrase-file", "-")
		if code != exitOK {
			t.Errorf("%s pass phrase from stdin: exit %d\n%s", fx, code, out)
		}
		if strings.Contains(out, "correct horse") {
			t.Errorf("pass phrase printed")
		}
	}
}

func TestValidateCAOmittedIsAnEmptyBundle(t *testing.T) {
	cert, key, _ := validateCase("ok_ecdsa_pkcs8")
	code, doc := validateJSONRun(t, "--cert", cert, "--key", key)
	if code != exitFail || strings.Join(validateCodes(doc), ",") != "chain_missing_intermediate" {
		t.Errorf("exit %d %v", code, validateCodes(doc))
	}
	// A full chain in the certificate field needs no bundle at all.
	cert, key, _ = validateCase("cert_full_chain")
	if code, doc := validateJSONRun(t, "--cert", cert, "--key", key); code != exitOK {
		t.Errorf("full chain without --ca: exit %d %v", code, validateCodes(doc))
	}
}

func TestValidateOversizedFileRefused(t *testing.T) {
	cert, key, _ := validateCase("ok_ecdsa_pkcs8")
	big := filepath.Join(t.TempDir(), "big.pem")
	f, err := os.Create(big)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(50 << 20); err != nil { // sparse: 50 MiB of zeros
		t.Fatal(err)
	}
	f.Close()
	code, doc := validateJSONRun(t, "--cert", cert, "--key", key, "--ca", big)
	if code != exitFail || strings.Join(validateCodes(doc), ",") != "field_too_large" {
		t.Errorf("exit %d %v", code, validateCodes(doc))
	}
}

func TestValidateUsageErrorsExit2(t *testing.T) {
	cert, key, ca := validateCase("ok_ecdsa_pkcs8")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "--cert FILE and --key FILE are required"},
		{[]string{"--cert", cert}, "--cert FILE and --key FILE are required"},
		{[]string{"--cert", cert, "--key", key, "--bogus"}, "flag provided but not defined: -bogus"},
		{[]string{"--cert", "/nonexistent/cert.pem", "--key", key, "--ca", ca}, "--cert: open /nonexistent/cert.pem: no such file or directory"},
		{[]string{"--cert", cert, "--key", key, "--ca", t.TempDir()}, "is a directory"},
		{[]string{"--cert", cert, "--key", key, "extra"}, `unexpected argument "extra"`},
		{[]string{"--cert", cert, "--key", key, "--key-passphrase-file", "/nonexistent"}, "--key-passphrase-file"},
	} {
		code, out, errOut := validateRun(t, "", tc.args...)
		if code != exitUsage || !strings.Contains(errOut, tc.want) || out != "" {
			t.Errorf("%v: exit %d, stdout %q, stderr %q (want %q)", tc.args, code, out, errOut, tc.want)
		}
	}
	code, out, _ := validateRun(t, "", "--help")
	if code != exitOK || !strings.Contains(out, "Usage: smtptls validate --cert FILE --key FILE --ca FILE") || !strings.Contains(out, "--ca may be left out") {
		t.Errorf("--help: exit %d\n%s", code, out)
	}
}

func TestValidateNoKeyMaterialInOutput(t *testing.T) {
	for _, fx := range []string{"wrong_block_private_key", "wrong_block_key_in_bundle", "key_mismatch", "key_matches_ca", "ok_ecdsa_pkcs8"} {
		cert, key, ca := validateCase(fx)
		keyPEM, err := os.ReadFile(key)
		if err != nil {
			t.Fatal(err)
		}
		var body []string
		for _, l := range strings.Split(string(keyPEM), "\n") {
			if len(l) > 20 && !strings.HasPrefix(l, "-----") {
				body = append(body, l[:20])
			}
		}
		_, text, errText := validateRun(t, "", "--cert", cert, "--key", key, "--ca", ca)
		_, js, _ := validateRun(t, "", "--cert", cert, "--key", key, "--ca", ca, "--json")
		for _, b := range body {
			if strings.Contains(text+errText+js, b) {
				t.Errorf("%s: key material in output", fx)
			}
		}
	}
}
