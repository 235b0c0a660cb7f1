package postfix

import (
	"bytes"
	"fmt"

	"github.com/smtptls/smtptls/config"
)

// The main.cf parameters smtptls writes. Nothing else is ever touched.
const (
	ParamSecurityLevel = "smtpd_tls_security_level"
	ParamChainFiles    = "smtpd_tls_chain_files" // Postfix 3.4 and later
	ParamCertFile      = "smtpd_tls_cert_file"   // before 3.4
	ParamKeyFile       = "smtpd_tls_key_file"    // before 3.4
)

// TouchedParams lists every parameter smtptls may write, for reading what
// is there before and for drift checks.
var TouchedParams = []string{ParamSecurityLevel, ParamChainFiles, ParamCertFile, ParamKeyFile}

// SecurityLevel maps a smtptls mode onto smtpd_tls_security_level.
func SecurityLevel(m config.Mode) string {
	switch m {
	case config.ModeAvailable:
		return "may"
	case config.ModeRequired:
		return "encrypt"
	}
	return "none"
}

// ModeOfLevel maps smtpd_tls_security_level back onto a mode, for what a
// Postfix serves before smtptls first touches it ("" for an empty or
// unknown level, which Postfix reads through older parameters).
func ModeOfLevel(level string) config.Mode {
	switch level {
	case "none":
		return config.ModeDisabled
	case "may":
		return config.ModeAvailable
	case "encrypt":
		return config.ModeRequired
	}
	return ""
}

// Params are the values main.cf must hold to serve mode with the chain
// file at chainPath (through the store's current link). chainPath "" (no
// certificate in the generation, mode disabled) leaves the file parameters
// alone. Postfix 3.4 and later take key, leaf and chain from one file;
// older ones name it as both the certificate and the key file (Postfix
// skips the PEM blocks it is not looking for).
func Params(mode config.Mode, chainPath string, v Version) map[string]string {
	p := map[string]string{ParamSecurityLevel: SecurityLevel(mode)}
	if chainPath == "" {
		return p
	}
	if v.AtLeast(3, 4) {
		p[ParamChainFiles] = chainPath
	} else {
		p[ParamCertFile] = chainPath
		p[ParamKeyFile] = chainPath
	}
	return p
}

// ChainPEM is the one file Postfix loads: key, leaf, then the chain, the
// order smtpd_tls_chain_files wants. It holds the key: write it 0600.
func ChainPEM(m config.Material) ([]byte, error) {
	if len(m.KeyPEM) == 0 || len(m.CertPEM) == 0 {
		return nil, fmt.Errorf("postfix chain file: a certificate and its key are needed")
	}
	var b bytes.Buffer
	for _, part := range [][]byte{m.KeyPEM, m.CertPEM, m.ChainPEM} {
		if len(part) == 0 {
			continue
		}
		b.Write(part)
		if !bytes.HasSuffix(part, []byte("\n")) {
			b.WriteByte('\n')
		}
	}
	return b.Bytes(), nil
}
