package validate

import (
	"crypto/sha256"
	"crypto/x509"
	"sync"
	"time"
)

// FieldResult is what the wizard shows under one field while it is edited.
type FieldResult struct {
	Diagnostics []Diagnostic // this field's diagnostics only (same codes/messages as the full check)
	// Recognised has one line per thing recognised, for the green line
	// under the field.
	Recognised []string
	Encrypted  bool     // key field: an encrypted key, needs a passphrase
	Fixes      []string // what save will fix: "bundle reordered", ...
}

// OK reports whether nothing in this field blocks an apply.
func (r FieldResult) OK() bool {
	for _, d := range r.Diagnostics {
		if d.Severity == SevError {
			return false
		}
	}
	return true
}

// cacheSize bounds each field's cache: the wizard only ever goes back a few
// edits, and a pasted bundle can hold hundreds of parsed certificates.
const cacheSize = 8

type cache[T any] struct {
	mu sync.Mutex
	m  map[[32]byte]T
}

func (c *cache[T]) get(k [32]byte, build func() T) T {
	c.mu.Lock()
	v, ok := c.m[k]
	c.mu.Unlock()
	if ok {
		return v
	}
	// Parse outside the lock: two goroutines may parse the same text once
	// each, which is cheaper than serialising all fields behind one parse.
	v = build()
	c.mu.Lock()
	if c.m == nil || len(c.m) >= cacheSize {
		c.m = make(map[[32]byte]T, cacheSize)
	}
	c.m[k] = v
	c.mu.Unlock()
	return v
}

// Checker validates fields and whole inputs, caching parsed fields by the
// SHA-256 of their text so that checks run on every keystroke stay cheap.
// It is safe for concurrent use.
type Checker struct {
	roots   *x509.CertPool
	certs   cache[*certParse]
	keys    cache[*keyParse]
	bundles cache[*bundleParse]
}

// NewChecker makes a checker; roots is the system trust pool used to tell
// whether a chain ending at an intermediate is anchored anyway (nil: none).
func NewChecker(roots *x509.CertPool) *Checker {
	return &Checker{roots: roots}
}

// Check is the full check without caching.
func Check(in Input) Report {
	return NewChecker(nil).Check(in)
}

// The field parsers refuse oversized text at once; it is not even hashed
// for the cache.

func (c *Checker) certField(text string) *certParse {
	if len(text) > MaxFieldBytes {
		return parseCertField(text)
	}
	return c.certs.get(sha256.Sum256([]byte(text)), func() *certParse { return parseCertField(text) })
}

func (c *Checker) keyField(text string, passphrase []byte) *keyParse {
	if len(text) > MaxFieldBytes {
		return parseKeyField(text, passphrase)
	}
	h := sha256.New()
	h.Write([]byte(text))
	h.Write([]byte{0})
	h.Write(passphrase)
	var k [32]byte
	h.Sum(k[:0])
	return c.keys.get(k, func() *keyParse { return parseKeyField(text, passphrase) })
}

func (c *Checker) bundleField(text string) *bundleParse {
	if len(text) > MaxFieldBytes {
		return parseBundleField(text)
	}
	return c.bundles.get(sha256.Sum256([]byte(text)), func() *bundleParse { return parseBundleField(text) })
}

// Certificate checks the certificate field alone.
func (c *Checker) Certificate(text, hostname string, now time.Time) FieldResult {
	p := c.certField(text)
	leaf := pickLeaf(p.certs, nil)
	var r FieldResult
	r.Diagnostics = withFiles(p.diags, "", "")
	if leaf == nil {
		return r
	}
	r.Diagnostics = append(r.Diagnostics, withFiles(certFieldChecks(p, leaf, hostname, now), "", "")...)
	r.Recognised = append(r.Recognised, recognisedCert(leaf, now))
	for _, o := range p.certs {
		if o != leaf {
			r.Recognised = append(r.Recognised, recognisedCA(o, now)+", moves to the chain on save")
		}
	}
	r.Fixes = certFixes(p)
	return r
}

// Key checks the key field alone, decrypting it with passphrase if given.
func (c *Checker) Key(text string, passphrase []byte) FieldResult {
	p := c.keyField(text, passphrase)
	r := FieldResult{Diagnostics: withFiles(p.diags, "", ""), Encrypted: p.encrypted}
	if p.key != nil {
		r.Recognised = []string{p.desc}
	}
	r.Fixes = keyFixes(p)
	return r
}

// Bundle checks the CA bundle alone. Without the server certificate it
// cannot know the path, so order and relevance are judged among the
// bundle's own certificates; the full check judges them against the leaf.
func (c *Checker) Bundle(text string, now time.Time) FieldResult {
	p := c.bundleField(text)
	r := FieldResult{Diagnostics: withFiles(p.diags, "", "")}
	for _, ci := range p.certs {
		r.Recognised = append(r.Recognised, recognisedCA(ci, now))
	}
	ds, fixes := bundleAloneChecks(p, now)
	r.Diagnostics = append(r.Diagnostics, ds...)
	r.Fixes = append(bundleStaticFixes(p), fixes...)
	return r
}
