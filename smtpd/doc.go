// Package smtpd is the bundled SMTP listener: go-smtp on the wire, with the
// TLS modes, limits, durable spool and live reload that go-smtp leaves to
// its users.
//
// Shape (server.go): one OS listener; an accept loop applies the
// connection limits (421 when over) and hands each connection, wrapped, to
// the current generation through a channel-backed net.Listener. A
// generation is one smtp.Server built for one mode and set of limits. A
// reload that changes only the certificate swaps an atomic pointer read by
// tls.Config.GetCertificate; anything else starts a new generation while
// the old one drains; a new listen address is bound before the old socket
// closes. Nothing is switched until the new configuration has been parsed
// and checked completely (ConfigFrom, spool writable, address bound).
//
// What go-smtp v0.25.1 does not do, and where it is done here:
//   - required mode (conn.go): go-smtp has no switch. Before TLS the conn
//     wrapper rewrites every command line other than EHLO, HELO, STARTTLS,
//     NOOP, RSET, QUIT and HELP into SAML, and rewrites go-smtp's reply to
//     SAML into "530 5.7.0 Must issue a STARTTLS command first", so replies
//     stay in order under pipelining. Session.Mail refuses too.
//   - one write per reply batch (conn.go): writes are buffered and flushed
//     when the reader would block, so EHLO's multi-line reply is one segment.
//   - handshake timeout and failure reasons (conn.go): armed when go-smtp
//     writes "220 Ready to start TLS"; a failed handshake is logged with
//     what the wire showed (alerts, timeouts, the peer hanging up).
//   - DATA timeout (session.go): go-smtp sets one deadline per command line,
//     so Data sets a deadline for the whole body.
//   - bare CR/LF (bare.go): refused with 550 5.5.2, or rewritten to CRLF.
//     go-smtp's dot-unstuffing swallows "." + CR at a line start before the
//     backend sees it; the wire spots it on the way in, so reject mode
//     refuses it too.
//   - the wire (wire.go, reached through gosmtp_lines.go): go-smtp's
//     command line limit also cuts DATA bodies, and its parser refuses
//     RCPT TO:<postmaster> and 64-bit SIZE= values with 501. The wire lifts
//     the limit for a body (lines up to 64 KB stored, longer ones 552),
//     and rewrites those two command lines, in plaintext and over TLS.
//   - graceful stop (server.go): go-smtp's Shutdown waits forever for idle
//     peers and its Close is a no-op after Shutdown; idle peers are woken
//     with a past read deadline (go-smtp answers 421) and the rest are cut
//     at the deadline through our own registry of connections.
//
// Operating it under attack and day to day:
//   - connection pressure (pressure.go): limits per address and per
//     network, Postfix-style stress mode past 80% of max_connections, EHLO
//     within 30 s; a slot is freed before the session's last reply leaves.
//   - TLS policy (tlspolicy.go): minimum version, AEAD-only TLS 1.2 suites,
//     session tickets with daily key rotation, per handshake.
//   - disk (diskspace.go): MAIL gets 452 4.3.1 under limits.min_free_bytes;
//     spool/tmp leftovers over an hour old are removed at start.
//   - log (logfile.go): a detached listener reopens smtpd.log on SIGUSR1
//     and reload, for logrotate.
//
// Delivery is separate from policy (session.go: modes, limits,
// accept_domains) and has go-smtp's Backend/Session shape (delivery.go):
// either package spool, a Maildir where every message is written to tmp,
// fsynced, renamed into new and the directory fsynced (as a group commit)
// before the 250 that names its id; or package relay, which forwards each
// inbound transaction to the next hop over one outbound session and
// returns its replies, so 250 means the next hop has the message.
//
// Control (control.go, run.go, detach.go): a 0600 Unix socket in the config
// directory answers reload, state and stop with one JSON line each; SIGHUP
// reloads too. StartDetached and StopDetached drive a background listener.
package smtpd
