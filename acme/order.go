package acme

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/go-acme/lego/v5/certcrypto"
	"github.com/go-acme/lego/v5/certificate"
	"github.com/go-acme/lego/v5/challenge/dns01"
	"github.com/go-acme/lego/v5/challenge/http01"
	"github.com/go-acme/lego/v5/challenge/tlsalpn01"
	"github.com/go-acme/lego/v5/lego"
	legolog "github.com/go-acme/lego/v5/log"

	"github.com/smtptls/smtptls/internal/certpem"
)

// Steps of an order, as progress reports them.
const (
	StepAccount   = "account"
	StepOrder     = "order"
	StepChallenge = "challenge"
	StepFinalize  = "finalize"
)

// Event is one step of an order, for a progress view.
type Event struct {
	Step   string `json:"step"`
	Name   string `json:"name,omitempty"` // the domain, for per-name steps
	Detail string `json:"detail"`
}

// Request is one order.
type Request struct {
	ConfigDir string
	Settings  Settings
	// EABKID and EABHMAC (base64url) bind a new account to an account at the
	// CA, for CAs that require it. Used only when registering.
	EABKID, EABHMAC string
	// Key is the certificate key to reuse; nil makes one of Settings.KeyType.
	Key crypto.Signer
	// HTTPClient talks to the CA; nil builds one that trusts the system
	// roots plus Settings.ServerCA.
	HTTPClient *http.Client
	// DNSResolver, when set (host:port), is the resolver asked whether the
	// dns-01 record has propagated, instead of the system's resolvers and
	// the zone's authoritative servers.
	DNSResolver string
	// PropagationTimeout bounds the wait for a dns-01 record; 0 means 2 min.
	PropagationTimeout time.Duration
	Progress           func(Event)
	Log                *slog.Logger
}

// Result is a certificate and what it was made with.
type Result struct {
	CertPEM  []byte // the leaf
	ChainPEM []byte // the issuer(s) the CA sent
	KeyPEM   []byte // PKCS#8; never logged or printed
	Leaf     *x509.Certificate
	// NewAccount is true when this order registered the account.
	NewAccount bool
	// Settings are the order's, defaults filled in and the key type the
	// one actually used: what renew must repeat.
	Settings Settings
}

// Error is a failed order, explained.
type Error struct {
	Step string // StepAccount, StepOrder, StepChallenge or StepFinalize
	// Message says what went wrong and what to do, in words.
	Message string
	Err     error
}

func (e *Error) Error() string { return e.Message }
func (e *Error) Unwrap() error { return e.Err }

// Obtain registers the account when needed, orders a certificate for the
// settings' domains, answers the challenges and returns the certificate.
// It never touches the live configuration.
func Obtain(ctx context.Context, r Request) (Result, error) {
	r.Settings = r.Settings.WithDefaults()
	if err := r.Settings.Check(); err != nil {
		return Result{}, &Error{Step: StepOrder, Message: err.Error(), Err: err}
	}
	if r.Progress == nil {
		r.Progress = func(Event) {}
	}
	if r.Log == nil {
		r.Log = slog.New(slog.DiscardHandler)
	}
	// lego logs through a package-level logger (to stdout by default); what
	// it says goes to our log, never into a command's output.
	legolog.SetDefault(r.Log)
	s := r.Settings

	hc := r.HTTPClient
	if hc == nil {
		var err error
		if hc, err = HTTPClient(s.ServerCA); err != nil {
			return Result{}, &Error{Step: StepAccount, Message: err.Error(), Err: err}
		}
	}
	akey, err := loadAccountKey(r.ConfigDir)
	if err != nil {
		return Result{}, &Error{Step: StepAccount, Message: err.Error(), Err: err}
	}
	u := &user{email: s.Email, key: akey}
	cfg := legoConfig(s.Server, u, hc)
	client, err := lego.NewClient(cfg)
	if err != nil {
		return Result{}, &Error{Step: StepAccount, Message: explainServer(s, err), Err: err}
	}
	registered, err := ensureAccount(ctx, client, u, r)
	if err != nil {
		return Result{}, &Error{Step: StepAccount, Message: explainAccount(s, err), Err: err}
	}
	if registered {
		r.Progress(Event{Step: StepAccount, Detail: fmt.Sprintf("registered %s at %s", s.Email, s.Server)})
	} else {
		r.Progress(Event{Step: StepAccount, Detail: fmt.Sprintf("using the account of %s at %s", s.Email, s.Server)})
	}
	// The account is now known; the client must sign with its URL.
	if client, err = lego.NewClient(cfg); err != nil {
		return Result{}, &Error{Step: StepAccount, Message: explainServer(s, err), Err: err}
	}

	if err := setSolver(client, r); err != nil {
		return Result{}, &Error{Step: StepChallenge, Message: err.Error(), Err: err}
	}

	key := r.Key
	if key == nil {
		if key, err = NewKey(s.KeyType); err != nil {
			return Result{}, &Error{Step: StepOrder, Message: err.Error(), Err: err}
		}
	}
	r.Progress(Event{Step: StepOrder, Detail: fmt.Sprintf("ordering a certificate for %v, validated by %s", s.Domains, s.Challenge)})
	res, err := client.Certificate.Obtain(ctx, certificate.ObtainRequest{
		Domains:    s.Domains,
		PrivateKey: key,
		Bundle:     false,
	})
	if err != nil {
		return Result{}, explainOrder(s, err)
	}
	leaf, err := certpem.First(res.Certificate)
	if err != nil {
		return Result{}, &Error{Step: StepFinalize, Message: "the CA sent a certificate that cannot be read: " + err.Error(), Err: err}
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return Result{}, &Error{Step: StepFinalize, Message: "encode the certificate key: " + err.Error(), Err: err}
	}
	r.Progress(Event{Step: StepFinalize, Detail: fmt.Sprintf("certificate for %v issued by %s, valid until %s", leaf.DNSNames, leaf.Issuer.CommonName, leaf.NotAfter.UTC().Format("2006-01-02"))})
	return Result{
		CertPEM:    res.Certificate,
		ChainPEM:   res.IssuerCertificate,
		KeyPEM:     pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}),
		Leaf:       leaf,
		NewAccount: registered,
		Settings:   withKeyType(s, key),
	}, nil
}

// legoConfig is lego's client configuration, built here rather than by
// lego.NewConfig, which reads LEGO_CA_CERTIFICATES and panics on a bad one.
func legoConfig(server string, u *user, hc *http.Client) *lego.Config {
	return &lego.Config{
		CADirURL:   server,
		User:       u,
		UserAgent:  "smtptls",
		HTTPClient: hc,
		Certificate: lego.CertificateConfig{
			Timeout:             30 * time.Second,
			OverallRequestLimit: certificate.DefaultOverallRequestLimit,
		},
	}
}

// setSolver installs the one responder the settings ask for.
func setSolver(client *lego.Client, r Request) error {
	s := r.Settings
	switch s.Challenge {
	case HTTP01:
		srv := http01.NewProviderServerWithOptions(http01.Options{Network: "tcp", Address: s.HTTPAddr})
		return client.Challenge.SetHTTP01Provider(&announce{Provider: srv, progress: r.Progress,
			what: fmt.Sprintf("answering http-01 on %s (bound only while the CA validates)", s.HTTPAddr)})
	case TLSALPN01:
		host, port, err := net.SplitHostPort(s.TLSALPNAddr)
		if err != nil {
			return fmt.Errorf("--tls-alpn-addr %q: %v (write it like :443 or 0.0.0.0:443)", s.TLSALPNAddr, err)
		}
		srv := tlsalpn01.NewProviderServer(host, port)
		return client.Challenge.SetTLSALPN01Provider(&announce{Provider: srv, progress: r.Progress,
			what: fmt.Sprintf("answering tls-alpn-01 on %s (bound only while the CA validates)", s.TLSALPNAddr)})
	case DNS01:
		h := &dnsHook{program: s.DNSHook, timeout: r.PropagationTimeout, interval: 2 * time.Second, progress: r.Progress}
		if h.timeout <= 0 {
			h.timeout = 2 * time.Minute
		}
		var opts []dns01.ChallengeOption
		if r.DNSResolver != "" {
			// lego keeps its DNS client in a package variable: point it at
			// the named resolver for this process. The zone's
			// authoritative servers are then not asked: the named resolver
			// is the one that counts (a split-horizon or test DNS).
			dns01.SetDefaultClient(dns01.NewClient(&dns01.Options{RecursiveNameservers: []string{r.DNSResolver}, Timeout: 5 * time.Second}))
			opts = append(opts, dns01.DisableAuthoritativeNssPropagationRequirement())
			h.interval = 500 * time.Millisecond
		}
		return client.Challenge.SetDNS01Provider(h, opts...)
	}
	return fmt.Errorf("unknown challenge %q", s.Challenge)
}

// announce reports a responder's life in the progress view.
type announce struct {
	Provider interface {
		Present(ctx context.Context, domain, token, keyAuth string) error
		CleanUp(ctx context.Context, domain, token, keyAuth string) error
	}
	progress func(Event)
	what     string
}

func (a *announce) Present(ctx context.Context, domain, token, keyAuth string) error {
	if err := a.Provider.Present(ctx, domain, token, keyAuth); err != nil {
		return err
	}
	a.progress(Event{Step: StepChallenge, Name: domain, Detail: a.what})
	return nil
}

func (a *announce) CleanUp(ctx context.Context, domain, token, keyAuth string) error {
	err := a.Provider.CleanUp(ctx, domain, token, keyAuth)
	if err == nil {
		a.progress(Event{Step: StepChallenge, Name: domain, Detail: "responder closed"})
	}
	return err
}

// HTTPClient is a client for the CA that trusts the system roots plus the
// certificates in serverCA (a private ACME server's CA), when given.
func HTTPClient(serverCA string) (*http.Client, error) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSHandshakeTimeout = 30 * time.Second
	tr.ResponseHeaderTimeout = 30 * time.Second
	if serverCA != "" {
		b, err := os.ReadFile(serverCA)
		if err != nil {
			return nil, fmt.Errorf("--server-ca: %w", err)
		}
		pool, err := x509.SystemCertPool()
		if err != nil || pool == nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(b) {
			return nil, fmt.Errorf("--server-ca %s holds no PEM certificate: give the CA certificate that the ACME server's HTTPS certificate chains to", serverCA)
		}
		tr.TLSClientConfig = &tls.Config{RootCAs: pool}
	}
	return &http.Client{Timeout: 2 * time.Minute, Transport: tr}, nil
}

// NewKey makes a certificate key of the given type.
func NewKey(keyType string) (crypto.Signer, error) {
	switch keyType {
	case KeyEC256, "":
		return certcrypto.GeneratePrivateKey(certcrypto.EC256)
	case KeyRSA2048:
		return certcrypto.GeneratePrivateKey(certcrypto.RSA2048)
	}
	return nil, fmt.Errorf("--key-type %q: use ec256 or rsa2048", keyType)
}

// withKeyType is s with the key type of k, when it has one of ours.
func withKeyType(s Settings, k crypto.Signer) Settings {
	if kt := KeyTypeOf(k); kt != "" {
		s.KeyType = kt
	}
	return s
}

// KeyTypeOf names k the way --key-type does; "" for any other key.
func KeyTypeOf(k crypto.Signer) string {
	switch k := k.(type) {
	case *ecdsa.PrivateKey:
		if k.Curve == elliptic.P256() {
			return KeyEC256
		}
	case *rsa.PrivateKey:
		if k.N.BitLen() == 2048 {
			return KeyRSA2048
		}
	}
	return ""
}
