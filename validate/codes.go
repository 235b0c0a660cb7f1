package validate

import (
	"sort"
	"strings"
)

// Code is the stable identifier of a kind of finding. Scripts and the
// wizard branch on it; the message is for people and may change.
type Code = string

// The codes, all of them. Codes lists them for docs and tests; every one
// has an entry in the codes table below.
const (
	CodeFieldTooLarge        Code = "field_too_large"
	CodePEMNone              Code = "pem_none"
	CodePEMNoEnd             Code = "pem_no_end"
	CodePEMBadBase64         Code = "pem_bad_base64"
	CodePEMLineBreaks        Code = "pem_line_breaks_repaired"
	CodeDERInvalid           Code = "der_invalid"
	CodeDERNotPEM            Code = "der_not_pem"
	CodePKCS12               Code = "pkcs12_not_pem"
	CodeWrongBlockPrivateKey Code = "wrong_block_private_key"
	CodeWrongBlockCert       Code = "wrong_block_certificate"
	CodeWrongBlockPublicKey  Code = "wrong_block_public_key"
	CodeWrongBlockCSR        Code = "wrong_block_csr"
	CodeWrongBlockPKCS7      Code = "wrong_block_pkcs7"
	CodeWrongBlockUnknown    Code = "wrong_block_unknown"

	CodeCertEmpty          Code = "cert_empty"
	CodeCertFullChain      Code = "cert_full_chain"
	CodeCertExpired        Code = "cert_expired"
	CodeCertNotYetValid    Code = "cert_not_yet_valid"
	CodeCertExpiringSoon   Code = "cert_expiring_soon"
	CodeCertIsCA           Code = "cert_is_ca"
	CodeCertNoServerAuth   Code = "cert_no_server_auth"
	CodeCertWeakRSA        Code = "cert_weak_rsa"
	CodeCertSHA1           Code = "cert_sha1_signature"
	CodeCertSelfSigned     Code = "cert_self_signed"
	CodeCertHostname       Code = "cert_hostname_mismatch"
	CodeCertUnsupportedKey Code = "cert_unsupported_key"

	CodeKeyEmpty           Code = "key_empty"
	CodeKeyEncrypted       Code = "key_encrypted"
	CodeKeyWrongPassphrase Code = "key_passphrase_wrong"
	CodeKeyMultiple        Code = "key_multiple"
	CodeKeyUnsupported     Code = "key_unsupported"
	CodeKeyEd25519         Code = "key_ed25519"
	CodeKeyMismatch        Code = "key_mismatch"
	CodeKeyMatchesOther    Code = "key_matches_other_cert"

	CodeBundleLeafRemoved Code = "bundle_leaf_removed"
	CodeBundleDuplicate   Code = "bundle_duplicate"
	CodeBundleReordered   Code = "bundle_reordered"
	CodeBundleUnrelated   Code = "bundle_unrelated"
	CodeBundleExpired     Code = "bundle_cert_expired"

	CodeChainMissingIntermediate Code = "chain_missing_intermediate"
	CodeChainExpiredIntermediate Code = "chain_expired_intermediate"
	CodeChainExpiringSoon        Code = "chain_expiring_soon"
	CodeChainNoRoot              Code = "chain_no_root"
	CodeChainIssuerNotCA         Code = "chain_issuer_not_ca"
)

type codeInfo struct {
	Severity Severity
	// About says in one line what the code means, for docs.
	About string
	// Hint says what to do next. {name} placeholders are filled from the
	// arguments of the finding (see hint()).
	Hint string
}

// codes is the one table of every code: its severity and its hint.
var codes = map[Code]codeInfo{
	CodeFieldTooLarge:        {SevError, "The field is over 1 MiB and was refused unread.", "This field takes PEM text of a few kilobytes; paste only the PEM blocks, not a whole file or archive."},
	CodePEMNone:              {SevError, "The field has text but no -----BEGIN ...----- block.", "Paste the PEM text, starting with a line like -----BEGIN {expect}----- and ending with the matching END line."},
	CodePEMNoEnd:             {SevError, "A block has no END line: the paste was cut off.", "The text was cut off: copy the block again including its -----END {label}----- line."},
	CodePEMBadBase64:         {SevError, "A block's base64 body does not decode.", "The block's base64 body is damaged (a character was changed or lost): copy it again from the original file."},
	CodePEMLineBreaks:        {SevInfo, "A block had lost its line breaks (web form, chat) and was read anyway.", "Nothing to do: the line breaks are restored on save."},
	CodeDERInvalid:           {SevError, "A block decodes but its contents are not a valid certificate or key.", "The block decodes but is not a valid {label}: copy it again from the original file, or re-download it from your CA."},
	CodeDERNotPEM:            {SevError, "A binary (DER) certificate or key instead of PEM text.", "Convert it to PEM first: openssl x509 -inform der -in FILE -out cert.pem for a certificate, openssl pkey -inform der -in FILE -out key.pem for a key."},
	CodePKCS12:               {SevError, "A PKCS#12 (.pfx/.p12) file instead of PEM text.", "Extract the parts (it asks for the export password): openssl pkcs12 -in FILE -clcerts -nokeys -out cert.pem; openssl pkcs12 -in FILE -nocerts -nodes -out key.pem; openssl pkcs12 -in FILE -cacerts -nokeys -out ca.pem"},
	CodeWrongBlockPrivateKey: {SevError, "A private key where certificates belong.", "Move the private key to the key field; this field takes certificates only."},
	CodeWrongBlockCert:       {SevError, "A certificate in the key field.", "Move the certificate to the certificate or CA bundle field; this field takes the private key only."},
	CodeWrongBlockPublicKey:  {SevError, "A public key where the private key or a certificate belongs.", "A public key is not enough: paste the private key file that was generated together with the certificate request."},
	CodeWrongBlockCSR:        {SevError, "A certificate request (CSR) instead of an issued certificate.", "This is the request you sent to the CA, not the issued certificate: paste the certificate the CA sent back (-----BEGIN CERTIFICATE-----)."},
	CodeWrongBlockPKCS7:      {SevError, "A PKCS#7 (.p7b) bundle instead of PEM certificates.", "Convert it to PEM certificates first: openssl pkcs7 -print_certs -in FILE.p7b, then paste the CERTIFICATE blocks."},
	CodeWrongBlockUnknown:    {SevError, "A block of a type that does not belong in this field.", "Remove this block; paste only {expect} blocks here."},

	CodeCertEmpty:          {SevError, "No server certificate was given.", "Paste the server certificate your CA issued for this gateway (-----BEGIN CERTIFICATE-----)."},
	CodeCertFullChain:      {SevWarning, "The certificate field holds the CA certificates too; they are split off.", "Nothing to do: on save the server certificate is kept here and the CA certificates move to the chain. Next time paste only the server certificate here."},
	CodeCertExpired:        {SevError, "The server certificate has expired.", "Renew the certificate with your CA and paste the new one."},
	CodeCertNotYetValid:    {SevError, "The server certificate is not valid yet.", "Check this machine's clock, or wait until the certificate becomes valid before applying it."},
	CodeCertExpiringSoon:   {SevWarning, "The server certificate expires within 30 days.", "Renew the certificate soon; peers start refusing it the day it expires."},
	CodeCertIsCA:           {SevError, "A CA certificate where the server certificate belongs.", "This is a CA certificate: paste the server certificate issued for your gateway's host name here, and CA certificates in the CA bundle field."},
	CodeCertNoServerAuth:   {SevError, "The extended key usage does not allow TLS servers.", "Ask your CA for a TLS server certificate (extended key usage serverAuth); this one was issued for another purpose."},
	CodeCertWeakRSA:        {SevError, "An RSA key under 2048 bits.", "Request a new certificate with an RSA key of at least 2048 bits, or an ECDSA P-256 key."},
	CodeCertSHA1:           {SevError, "Signed with SHA-1 (or weaker).", "Have the certificate re-issued with a SHA-256 signature; peers refuse SHA-1 signatures."},
	CodeCertSelfSigned:     {SevWarning, "The server certificate is self-signed.", "Fine for testing and for peers doing opportunistic TLS, but peers that verify will refuse it: use a certificate from a public CA."},
	CodeCertHostname:       {SevWarning, "The gateway's host name is not among the certificate's DNS names.", "Peers that check names connect to {hostname}: get a certificate that lists it as a DNS name, or check the host name you entered."},
	CodeCertUnsupportedKey: {SevError, "The certificate's key type or curve cannot be served.", "Request a certificate with an RSA (2048 bits or more) or ECDSA P-256/P-384 key."},

	CodeKeyEmpty:           {SevError, "No private key was given.", "Paste the private key generated together with the certificate request (-----BEGIN PRIVATE KEY-----)."},
	CodeKeyEncrypted:       {SevError, "The private key is encrypted and needs its pass phrase.", "Enter the pass phrase to decrypt it in memory, or write an unencrypted copy with: openssl pkey -in KEYFILE -out key-unencrypted.pem (it asks for the pass phrase once)"},
	CodeKeyWrongPassphrase: {SevError, "The pass phrase does not decrypt the key.", "Check the pass phrase (it is case-sensitive) and try again; test it with: openssl pkey -in KEYFILE -noout"},
	CodeKeyMultiple:        {SevError, "More than one private key was pasted.", "Paste only the one private key that belongs to the server certificate."},
	CodeKeyUnsupported:     {SevError, "The key is of a kind that cannot sign TLS handshakes.", "Use an RSA (2048 bits or more), ECDSA P-256/P-384 or Ed25519 key."},
	CodeKeyEd25519:         {SevWarning, "An Ed25519 key: valid, but few mail peers support it.", "Few mail servers support Ed25519 certificates yet; for mail use an ECDSA P-256 or RSA key."},
	CodeKeyMismatch:        {SevError, "The private key does not belong to the server certificate.", "Find the key file created together with the certificate request for this certificate; compare with: openssl x509 -noout -pubkey -in CERTFILE | openssl sha256 and openssl pkey -pubout -in KEYFILE | openssl sha256"},
	CodeKeyMatchesOther:    {SevError, "The private key belongs to another pasted certificate: says which field is wrong.", "The key and the server certificate must be a pair: {fix}"},

	CodeBundleLeafRemoved: {SevInfo, "The server certificate was also pasted into the CA bundle; removed on save.", "Nothing to do: the server certificate is removed from the CA bundle on save."},
	CodeBundleDuplicate:   {SevInfo, "A certificate appears twice in the bundle; dropped on save.", "Nothing to do: duplicates are dropped on save."},
	CodeBundleReordered:   {SevInfo, "The bundle is out of order; written in order on save.", "Nothing to do: the chain is written in the right order on save."},
	CodeBundleUnrelated:   {SevWarning, "A pasted certificate is not on the server certificate's chain.", "It is left out on save; remove it from the bundle unless you pasted the wrong intermediate."},
	CodeBundleExpired:     {SevWarning, "An expired certificate that is not needed on the chain (or an expired root).", "Remove it from the bundle, or replace it with the current version from your CA."},

	CodeChainMissingIntermediate: {SevError, "The intermediate that issued the server certificate is missing.", "Add the certificate \"{issuer}\" to the CA bundle: your CA's download page lists it as the intermediate or chain certificate (often in fullchain.pem or ca-bundle.crt)."},
	CodeChainExpiredIntermediate: {SevError, "An intermediate on the chain has expired.", "Download the current intermediate certificate from your CA and replace the expired one in the CA bundle."},
	CodeChainExpiringSoon:        {SevWarning, "An intermediate on the chain expires within 30 days, before the server certificate.", "Download the intermediate's successor from your CA (it usually publishes the next one in advance) and put it in the CA bundle."},
	CodeChainNoRoot:              {SevWarning, "The chain ends at an intermediate whose root is neither pasted nor trusted here.", "Peers doing opportunistic TLS still connect; to let verifying peers check the chain, add the root \"{issuer}\" to the CA bundle (or check it is a CA they trust)."},
	CodeChainIssuerNotCA:         {SevError, "A certificate on the chain signed another but is not a CA.", "Replace it with the real intermediate certificate from your CA."},
}

// Codes lists every code, sorted, for docs and tests.
func Codes() []Code {
	out := make([]Code, 0, len(codes))
	for c := range codes {
		out = append(out, c)
	}
	sort.Strings(out)
	return out
}

// CodeSeverity is the severity findings with code c get.
func CodeSeverity(c Code) Severity { return codes[c].Severity }

// CodeAbout says in one line what code c means.
func CodeAbout(c Code) string { return codes[c].About }

// CodeHint is the hint template of code c, placeholders unfilled.
func CodeHint(c Code) string { return codes[c].Hint }

// Names the hints' openssl commands use when the admin's own are unknown.
const (
	DefaultCertFile = "cert.pem"
	DefaultKeyFile  = "key.pem"
)

// withFiles fills the KEYFILE and CERTFILE placeholders of the hints in ds
// with the admin's file names. It returns a new slice: ds may be shared
// with the parse cache.
func withFiles(ds []Diagnostic, certFile, keyFile string) []Diagnostic {
	if certFile == "" {
		certFile = DefaultCertFile
	}
	if keyFile == "" {
		keyFile = DefaultKeyFile
	}
	files := strings.NewReplacer("KEYFILE", keyFile, "CERTFILE", certFile)
	out := make([]Diagnostic, len(ds))
	for i, d := range ds {
		d.Hint = files.Replace(d.Hint)
		out[i] = d
	}
	return out
}

// diag makes a diagnostic from the code table. args fill {name}
// placeholders in the hint, as name, value pairs.
func diag(field Field, code Code, line int, msg string, args ...string) Diagnostic {
	info, ok := codes[code]
	if !ok {
		// A programming error; make it loud in tests but never panic a user.
		info = codeInfo{SevError, "", "unknown code " + code}
	}
	hint := info.Hint
	if len(args) > 0 {
		hint = strings.NewReplacer(args...).Replace(hint)
	}
	return Diagnostic{Severity: info.Severity, Field: field, Code: code, Message: msg, Hint: hint, Line: line}
}
