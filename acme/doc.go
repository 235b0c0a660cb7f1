// Package acme gets certificates from an ACME CA (Let's Encrypt, or any
// RFC 8555 server) and hands back material for apply's transaction; it never
// makes anything live itself.
//
// It wraps go-acme/lego v5 rather than caddyserver/certmagic: certmagic is a
// certificate manager for a long-running TLS server (its own storage, its
// own renewal loop, its own listeners), while we need a library for one
// order at a time, driven from a command, with an HTTP client we inject
// (a private CA for --server-ca, pebble in tests), the certificate key we
// choose (kept across renewals for DANE), and standalone challenge
// responders that are bound only while the CA validates. lego's packages
// give exactly that, and we import only the providers we use: http01 and
// tlsalpn01 (lego's standalone servers) and a dns-01 hook of our own that
// runs a program the way lego's exec provider does.
package acme
