package validate

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"time"
)

func pemCert(c *x509.Certificate) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
}

// material is what save writes: leaf alone, PKCS#8 key, the chain to
// serve (intermediates leaf-upwards, no root) and the anchors.
func material(leaf *certInfo, kp *keyParse, ch chain) (*Material, error) {
	der, err := x509.MarshalPKCS8PrivateKey(kp.key)
	if err != nil {
		return nil, fmt.Errorf("encode key as PKCS#8: %w", err)
	}
	m := &Material{
		LeafPEM: pemCert(leaf.Cert),
		KeyPEM:  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}),
	}
	for _, c := range ch.path[1:] {
		if c.selfSigned() {
			m.CAPEM = append(m.CAPEM, pemCert(c.Cert)...)
			continue
		}
		m.ChainPEM = append(m.ChainPEM, pemCert(c.Cert)...)
	}
	if m.CAPEM == nil && len(ch.path) > 1 {
		// No root anywhere: the top intermediate is the best anchor a
		// verifier can be given.
		m.CAPEM = pemCert(ch.path[len(ch.path)-1].Cert)
	}
	return m, nil
}

func summarize(leaf *certInfo, ch chain, hostname string, now time.Time) *Summary {
	c := leaf.Cert
	spki := sha256.Sum256(c.RawSubjectPublicKeyInfo)
	typ, bits := keyDesc(c.PublicKey)
	s := &Summary{
		Subject:    leaf.Name,
		SANs:       append([]string{}, c.DNSNames...),
		Issuer:     issuerName(c),
		NotBefore:  c.NotBefore,
		NotAfter:   c.NotAfter,
		DaysLeft:   daysLeft(c.NotAfter, now),
		KeyType:    typ,
		KeyBits:    bits,
		CertSHA256: leaf.SHA256,
		SPKISHA256: hex.EncodeToString(spki[:]),
		Hostname:   hostname,
	}
	for _, ip := range c.IPAddresses {
		s.SANs = append(s.SANs, ip.String())
	}
	s.TLSA = "3 1 1 " + s.SPKISHA256
	s.HostnameMatch, _ = hostnameCheck(leaf, hostname)
	for i, ci := range ch.path {
		role := "intermediate"
		switch {
		case i == 0:
			role = "leaf"
		case ci.selfSigned():
			role = "root"
		}
		src := string(ci.Field)
		if ci.Field == "" {
			src = "system"
		}
		s.Chain = append(s.Chain, ChainEntry{Role: role, Subject: ci.Name, Issuer: issuerName(ci.Cert), NotAfter: ci.Cert.NotAfter, SHA256: ci.SHA256, Source: src})
	}
	return s
}
