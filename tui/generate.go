package tui

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"
)

// RequestsDir is where generated keys and certificate requests are saved,
// inside the config directory.
const RequestsDir = "requests"

// generateScreen helps an admin with no certificate yet: a key and a CSR
// to send to a CA, or a self-signed certificate to try the gateway out.
type generateScreen struct {
	*Common
	s       *shared
	cursor  int
	csr     string // PEM, shown once made
	keyPath string
	csrPath string
	err     error
	note    string
	w, h    int
}

func newGenerateScreen(c *Common, s *shared) *generateScreen { return &generateScreen{Common: c, s: s} }

func (g *generateScreen) SetSize(w, h int) { g.w, g.h = w, h }

func (g *generateScreen) Enter() tea.Cmd {
	g.csr, g.err, g.note = "", nil, ""
	return nil
}

type csrMadeMsg struct {
	csr, keyPath, csrPath string
	err                   error
}

type selfSignedMsg struct {
	cert, key string
	err       error
}

func (g *generateScreen) Update(msg tea.Msg) (nav, tea.Cmd) {
	switch msg := msg.(type) {
	case csrMadeMsg:
		g.csr, g.keyPath, g.csrPath, g.err = msg.csr, msg.keyPath, msg.csrPath, msg.err
		return stay, nil
	case selfSignedMsg:
		if msg.err != nil {
			g.err = msg.err
			return stay, nil
		}
		g.s.cert.SetValue(msg.cert)
		g.s.key.SetValue(msg.key)
		g.s.bundle.Clear()
		g.s.passphrase = nil
		return goTo(stepReview), nil
	case copiedMsg:
		msg.shown = true
		g.note = msg.view(g.Styles, g.w)
		return stay, nil
	case tea.KeyMsg:
		if !g.Bindable(msg) {
			return stay, nil
		}
		k := g.Keys
		switch {
		case key.Matches(msg, k.Back):
			return nav{act: actBack}, nil
		case g.csr != "" && key.Matches(msg, k.Copy):
			return stay, copyCmd(g.s.deps.Copy, "certificate request", g.csr, false)
		case g.csr != "":
			return stay, nil
		case key.Matches(msg, k.Up):
			g.cursor = (g.cursor + 2) % 3
		case key.Matches(msg, k.Down):
			g.cursor = (g.cursor + 1) % 3
		case key.Matches(msg, k.Choose):
			host, dir, now := g.s.hostname, g.s.deps.ConfigDir, g.Now()
			switch g.cursor {
			case 0:
				return stay, func() tea.Msg { return makeCSR(dir, host, now) }
			case 2:
				return goTo(stepACME), nil
			}
			return stay, func() tea.Msg { return makeSelfSigned(host, now) }
		}
	}
	return stay, nil
}

func (g *generateScreen) View() string {
	st := g.Styles
	var b strings.Builder
	if g.err != nil {
		b.WriteString(st.Err.Render("✗ "+g.err.Error()) + "\n\n")
	}
	if g.csr != "" {
		b.WriteString(st.OK.Render("✓ Key and certificate request made for "+g.s.hostname+".") + "\n")
		fmt.Fprintf(&b, "Request saved to\n%s\nKey saved to (0600, never shown)\n%s\n", indent(st.Code.Render(wrapValue(g.csrPath, g.w-2)), "  "), indent(st.Code.Render(wrapValue(g.keyPath, g.w-2)), "  "))
		b.WriteString(g.csr)
		b.WriteString("\n" + wrap(g.s.cmd("Send the request to your CA (c copies it). When the certificate comes back, run `smtptls setup` again, paste it, and load the key file above with ctrl+o on the key step."), g.w))
		if g.note != "" {
			b.WriteString("\n" + g.note)
		}
		return b.String()
	}
	b.WriteString(st.Heading.Render("No certificate yet?") + "\n\n")
	opts := [][2]string{
		{"Make a private key and a certificate request (CSR) for " + g.s.hostname,
			"Saved under " + filepath.Join(g.s.deps.ConfigDir, RequestsDir) + "; send the request to your CA."},
		{"Make a self-signed test certificate for " + g.s.hostname,
			"To try the gateway out. Peers that verify certificates will refuse it."},
		{"Get a certificate by ACME (Let's Encrypt) for " + g.s.hostname,
			"Ordered now and renewed by smtptls renew; the CA checks port 80, 443 or DNS."},
	}
	for i, o := range opts {
		mark, name := "  ", o[0]
		if i == g.cursor {
			mark, name = "> ", st.Selected.Render(name)
		}
		b.WriteString(mark + name + "\n    " + st.Muted.Render(wrap(o[1], g.w-4)) + "\n\n")
	}
	b.WriteString(st.Muted.Render("The host name comes from the settings; change it on the review step."))
	return b.String()
}

func (g *generateScreen) ShortHelp() []key.Binding {
	k := g.Keys
	if g.csr != "" {
		return []key.Binding{withHelp(k.Copy, "c", "copy request"), k.Back, k.Quit}
	}
	return []key.Binding{withHelp(k.Up, "↑/↓", "move"), withHelp(k.Choose, "enter", "make it"), k.Back}
}

func (g *generateScreen) FullHelp() [][]key.Binding { return [][]key.Binding{g.ShortHelp()} }

// makeCSR makes an ECDSA P-256 key and a request for host, and saves both
// (the key 0600 in a 0700 directory; an existing file is never replaced).
func makeCSR(configDir, host string, now time.Time) tea.Msg {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return csrMadeMsg{err: fmt.Errorf("make a key: %w", err)}
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{
		Subject: pkix.Name{CommonName: host}, DNSNames: []string{host},
	}, key)
	if err != nil {
		return csrMadeMsg{err: fmt.Errorf("make the certificate request: %w", err)}
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return csrMadeMsg{err: fmt.Errorf("encode the key: %w", err)}
	}
	csr := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}))
	dir := filepath.Join(configDir, RequestsDir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return csrMadeMsg{err: fmt.Errorf("create %s: %w", dir, err)}
	}
	base := filepath.Join(dir, fmt.Sprintf("%s-%s", host, now.UTC().Format("20060102T150405Z")))
	keyPath, csrPath := base+".key", base+".csr"
	if err := writeNew(keyPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		return csrMadeMsg{err: err}
	}
	if err := writeNew(csrPath, []byte(csr), 0o644); err != nil {
		return csrMadeMsg{err: err}
	}
	return csrMadeMsg{csr: csr, keyPath: keyPath, csrPath: csrPath}
}

func writeNew(path string, data []byte, perm os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return fmt.Errorf("save %s: %w", path, err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("save %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("save %s: %w", path, err)
	}
	return f.Close()
}

// makeSelfSigned makes a 90-day self-signed certificate and its key, in
// memory only: they go into the fields and are written by Apply like any
// pasted material.
func makeSelfSigned(host string, now time.Time) tea.Msg {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return selfSignedMsg{err: fmt.Errorf("make a key: %w", err)}
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return selfSignedMsg{err: fmt.Errorf("make a serial number: %w", err)}
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: host, Organization: []string{"smtptls self-signed test"}},
		DNSNames:     []string{host},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.AddDate(0, 0, 90),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return selfSignedMsg{err: fmt.Errorf("sign the test certificate: %w", err)}
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return selfSignedMsg{err: fmt.Errorf("encode the key: %w", err)}
	}
	return selfSignedMsg{
		cert: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})),
		key:  string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder})),
	}
}
