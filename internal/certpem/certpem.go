// Package certpem reads the certificates of a PEM file: the one loop the
// listener's certificate, relay.ca_file and verify's --ca each need, and
// the leaf that renewals and the Postfix description look at.
package certpem

import (
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
)

// Parse returns the CERTIFICATE blocks of data, parsed, in order; other
// blocks are skipped. A certificate that does not parse is an error that
// names its place in the file ("certificate 2: ..."), for the caller to
// prefix with the file's name.
func Parse(data []byte) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			return out, nil
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("certificate %d: %w", len(out)+1, err)
		}
		out = append(out, c)
	}
}

// errNoCertificate: data holds no CERTIFICATE block.
var errNoCertificate = errors.New("no PEM certificate")

// First is the first CERTIFICATE block of data, parsed: the leaf of a
// chain file. The rest is not parsed.
func First(data []byte) (*x509.Certificate, error) {
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			return nil, errNoCertificate
		}
		if b.Type == "CERTIFICATE" {
			return x509.ParseCertificate(b.Bytes)
		}
	}
}
