// Package sensitive tells credentials from ordinary configuration: by the
// name a value is stored under (an environment variable, an HTTP header,
// a flag) and by the shape of the value itself (URLs with a password,
// DSNs, JWTs, PEM private keys, known provider key prefixes, high-entropy
// strings next to credential-like names).
//
// The executor's redactor masks what it finds in env values, container
// args and commands and probe headers; the audit writers mask command
// arguments with it before a record is stored. Only the secret part is
// replaced where that is clear (the password of a URL, the value of a
// password= pair, one token in a script); a value judged secret by its
// name alone is replaced whole.
//
// # Names
//
// A name is split into words at _, -, ., / and lower-to-upper case changes
// (DB_PASSWORD, db-password, dbPassword all give db, password). It is
// credential-like when one word is a credential word (password, passwd,
// pass, pwd, secret, token, credential(s), auth, apikey, sk, ...), a word
// ends in a long one (pgpassword, authtoken), or "key" follows a
// qualifier (api, access, private, signing, encryption, ...). A last word
// that describes rather than holds the value (name, url, file, length,
// enabled, ttl, ...) makes the name harmless: SECRET_NAME,
// PASSWORD_MIN_LENGTH, TOKEN_URL. AUTHOR and OAUTH_CALLBACK_URL hold no
// credential word at all.
//
// # Concurrency
//
// Every function is pure and safe for concurrent use.
package sensitive

import (
	"strings"
	"unicode"
)

// Mask replaces a masked value or value part.
const Mask = "REDACTED"

// credentialWords are words that name a credential wherever they stand.
var credentialWords = map[string]bool{
	"password": true, "passwords": true, "passwd": true, "pass": true, "passphrase": true,
	"pwd": true, "pw": true, "secret": true, "secrets": true, "token": true, "tokens": true,
	"credential": true, "credentials": true, "creds": true, "cred": true, "auth": true,
	"authorization": true, "bearer": true, "apikey": true, "apikeys": true, "privatekey": true,
	"secretkey": true, "accesskey": true, "sk": true, "pgpass": true, "dbpass": true,
	"requirepass": true, "masterauth": true, "htpasswd": true,
}

// credentialSuffixes are long credential words that also count at the end
// of a word: PGPASSWORD, AUTHTOKEN, CLIENTSECRET.
var credentialSuffixes = []string{"password", "passwd", "secret", "token", "apikey", "accesskey", "secretkey", "privatekey"}

// keyQualifiers make a following "key" (or "keys") a credential: API_KEY,
// JWT_SIGNING_KEY, AWS_SECRET_ACCESS_KEY, ENCRYPTION_KEY.
var keyQualifiers = map[string]bool{
	"api": true, "access": true, "secret": true, "private": true, "signing": true, "sign": true,
	"encryption": true, "encrypt": true, "decryption": true, "master": true, "client": true,
	"license": true, "licence": true, "app": true, "auth": true, "service": true, "account": true,
	"admin": true, "hmac": true, "crypto": true, "session": true, "cookie": true, "webhook": true,
	"jwt": true, "ssh": true, "tls": true, "gpg": true, "pgp": true, "aes": true, "cipher": true,
	"root": true, "shared": true, "storage": true, "subscription": true, "write": true, "read": true,
	"deploy": true, "rsa": true, "ed25519": true, "consumer": true, "developer": true, "live": true,
	"test": true, "server": true, "user": true, "stripe": true, "sendgrid": true, "mailgun": true,
	"twilio": true, "openai": true, "github": true, "gitlab": true, "slack": true, "datadog": true,
}

// plainKeys make a following "key" an ordinary one: a public key, a
// cache or database key.
var plainKeys = map[string]bool{
	"public": true, "publishable": true, "cache": true, "sort": true, "partition": true,
	"primary": true, "foreign": true, "idempotency": true, "routing": true, "lookup": true,
	"map": true, "group": true, "hash": true, "shard": true, "object": true, "s3": true,
}

// weakWords name values that are credentials when they look like one (long
// and random): SESSION_SALT, COOKIE_SIGNATURE, SENTRY_KEY.
var weakWords = map[string]bool{
	"key": true, "keys": true, "salt": true, "seed": true, "signature": true, "sig": true,
	"hmac": true, "cookie": true, "session": true, "nonce": true, "license": true,
	"licence": true, "pin": true, "otp": true, "dsn": true, "jwt": true, "bcrypt": true,
}

// describingWords, as the last word, say that a name describes a
// credential rather than holds one: SECRET_NAME, TOKEN_URL,
// PASSWORD_MIN_LENGTH, AUTH_ENABLED.
var describingWords = map[string]bool{
	"url": true, "uri": true, "urls": true, "endpoint": true, "endpoints": true, "host": true,
	"hostname": true, "port": true, "addr": true, "address": true, "name": true, "names": true,
	"path": true, "paths": true, "file": true, "files": true, "filename": true, "dir": true,
	"directory": true, "enabled": true, "enable": true, "disabled": true, "disable": true,
	"required": true, "require": true, "mode": true, "type": true, "kind": true, "length": true,
	"len": true, "min": true, "max": true, "minimum": true, "maximum": true, "timeout": true,
	"ttl": true, "lifetime": true, "expiry": true, "expiration": true, "expires": true,
	"header": true, "headers": true, "id": true, "ids": true, "user": true, "username": true,
	"users": true, "policy": true, "provider": true, "method": true, "methods": true,
	"issuer": true, "audience": true, "scope": true, "scopes": true, "realm": true, "ref": true,
	"version": true, "format": true, "algorithm": true, "alg": true, "count": true, "size": true,
	"interval": true, "duration": true, "location": true, "mount": true, "prefix": true,
	"suffix": true, "field": true, "param": true, "parameter": true, "level": true,
	"strength": true, "complexity": true, "rotation": true, "period": true, "days": true,
	"hours": true, "minutes": true, "seconds": true, "secs": true, "ms": true, "store": true,
	"backend": true, "namespace": true, "label": true, "annotation": true, "server": true,
	"service": true, "class": true, "source": true, "env": true, "var": true, "template": true,
	"callback": true, "redirect": true, "retries": true, "attempts": true, "limit": true,
	"regex": true, "pattern": true, "rule": true, "rules": true, "check": true, "validation": true,
	"lookup": true, "cache": true, "refresh": true, "grace": true, "leeway": true, "skew": true,
}

// words splits a name into lower-case words at _, -, ., /, spaces and
// lower-to-upper case changes.
func words(name string) []string {
	var out []string
	var cur strings.Builder
	flush := func() {
		if cur.Len() > 0 {
			out = append(out, strings.ToLower(cur.String()))
			cur.Reset()
		}
	}
	var prev rune
	for _, r := range name {
		switch {
		case r == '_' || r == '-' || r == '.' || r == '/' || r == ' ' || r == ':':
			flush()
		case unicode.IsUpper(r) && (unicode.IsLower(prev) || unicode.IsDigit(prev)):
			flush()
			cur.WriteRune(r)
		default:
			cur.WriteRune(r)
		}
		prev = r
	}
	flush()
	return out
}

// strength is how strongly a name suggests a credential.
type strength int

const (
	none strength = iota
	// weak: a credential only when the value looks like one.
	weak
	// strong: any literal value is a credential.
	strong
)

// classify judges a name.
func classify(name string) strength {
	ws := words(name)
	if len(ws) == 0 {
		return none
	}
	if describingWords[ws[len(ws)-1]] && len(ws) > 1 {
		return none
	}
	s := none
	for i, w := range ws {
		switch {
		case credentialWords[w]:
			return strong
		case (w == "key" || w == "keys") && i > 0 && keyQualifiers[ws[i-1]]:
			return strong
		case (w == "key" || w == "keys") && i > 0 && plainKeys[ws[i-1]]:
			// PUBLIC_KEY, CACHE_KEY: not a credential, whatever it holds.
		case hasCredentialSuffix(w):
			return strong
		case weakWords[w]:
			s = weak
		}
	}
	return s
}

func hasCredentialSuffix(w string) bool {
	for _, s := range credentialSuffixes {
		if len(w) > len(s) && strings.HasSuffix(w, s) {
			return true
		}
	}
	return false
}

// Name reports whether name (an environment variable, header or flag
// name) says that its value is a credential: DB_PASS, PGPASSWORD,
// JWT_SIGNING_KEY, STRIPE_SK, X-Api-Key, --client-secret. It is false
// for names that merely mention one (SECRET_NAME, PASSWORD_MIN_LENGTH,
// OAUTH_CALLBACK_URL, AUTHOR).
func Name(name string) bool { return classify(name) == strong }

// sensitiveHeaders are HTTP header names whose value is a credential
// whatever it looks like.
var sensitiveHeaders = map[string]bool{
	"authorization": true, "proxy-authorization": true, "cookie": true, "set-cookie": true,
	"x-api-key": true, "api-key": true, "x-auth-token": true, "x-vault-token": true,
	"private-token": true, "x-gitlab-token": true, "x-hub-signature": true,
	"x-hub-signature-256": true, "x-amz-security-token": true, "x-goog-api-key": true,
}

// Header reports whether an HTTP header of this name carries a
// credential: Authorization, Cookie, X-Api-Key, or any credential-like
// name.
func Header(name string) bool {
	return sensitiveHeaders[strings.ToLower(name)] || Name(name)
}
