package sensitive

import (
	"math"
	"regexp"
	"strings"
)

// span is a byte range of a value to replace with Mask.
type span struct{ start, end int }

// Shapes of credentials inside a value. Each is tried only when a cheap
// literal check says it could match.
var (
	// urlUserinfo matches scheme://user:password@; group 1 is the password.
	urlUserinfo = regexp.MustCompile(`[A-Za-z][A-Za-z0-9+.-]*://[^/\s:@?#]*:([^@\s/?#]+)@`)
	// kvSecret matches password=…, Password=…; (DSNs, connection strings,
	// query strings); group 2 is the value.
	kvSecret = regexp.MustCompile(`(?i)(?:^|[\s;&?,"'(])((?:[a-z0-9_.-]*?)(?:password|passwd|pwd|pass|secret|token|apikey|api_key|api-key|access_token|accountkey|sharedaccesskey|sharedaccesssignature|sig|signature|x-amz-signature|x-amz-security-token|client_secret|private_key|auth))["']?\s*[=:]\s*('[^']*'|"[^"]*"|[^\s;&,"')]+)`)
	// flagValue matches a flag and its value inside a script line
	// (--db-password=x, -token x); group 1 is the flag's name, group 2
	// its value. Only credential-like names are masked.
	flagValue = regexp.MustCompile(`(?:^|\s)--?([A-Za-z0-9][A-Za-z0-9_-]*)(?:=|\s+)('[^']*'|"[^"]*"|[^\s'"-][^\s'"]*)`)
	// authScheme matches Bearer and Basic credentials and the value of an
	// Authorization header line; group 1 is the credential.
	authScheme = regexp.MustCompile(`(?i)(?:\b(?:bearer|basic)\s+|authorization:\s*(?:token\s+)?)([A-Za-z0-9._~+/-]{8,}=*)`)
	// jwt matches a JSON Web Token.
	jwt = regexp.MustCompile(`eyJ[A-Za-z0-9_-]{4,}\.eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*`)
	// pemKey matches a PEM private key block (certificates are public).
	pemKey = regexp.MustCompile(`-----BEGIN[A-Z ]*PRIVATE KEY( BLOCK)?-----[\s\S]*?(-----END[A-Z ]*PRIVATE KEY( BLOCK)?-----|$)`)
	// providerKey matches API keys by their provider's prefix.
	providerKey = regexp.MustCompile(`\b(?:` +
		`(?:AKIA|ASIA|ABIA|ACCA)[0-9A-Z]{16}` + // AWS access key ids
		`|gh[pousr]_[A-Za-z0-9]{30,}` + // GitHub tokens
		`|github_pat_[A-Za-z0-9_]{22,}` + // GitHub fine-grained tokens
		`|xox[abposr]-[A-Za-z0-9-]{10,}` + // Slack tokens
		`|xapp-[0-9]-[A-Za-z0-9-]{10,}` + // Slack app tokens
		`|(?:sk|rk)_(?:live|test)_[0-9A-Za-z]{10,}` + // Stripe secret and restricted keys
		`|whsec_[0-9A-Za-z]{20,}` + // Stripe webhook secrets
		`|glpat-[0-9A-Za-z_-]{20,}` + // GitLab personal access tokens
		`|gl(?:dt|rt|cbt|ptt|oas)-[0-9A-Za-z_-]{20,}` + // other GitLab tokens
		`|AIza[0-9A-Za-z_-]{35}` + // Google API keys
		`|ya29\.[0-9A-Za-z_-]{20,}` + // Google OAuth access tokens
		`|sk-(?:proj-|ant-|svcacct-)?[A-Za-z0-9_-]{20,}` + // OpenAI, Anthropic
		`|npm_[A-Za-z0-9]{36}` + // npm
		`|pypi-[A-Za-z0-9_-]{50,}` + // PyPI
		`|SG\.[A-Za-z0-9_-]{16,}\.[A-Za-z0-9_-]{16,}` + // SendGrid
		`|hv[sbr]\.[A-Za-z0-9_-]{20,}` + // HashiCorp Vault
		`|dop_v1_[a-f0-9]{64}` + // DigitalOcean
		`|shp(?:at|ca|pa|ss)_[a-fA-F0-9]{32}` + // Shopify
		`|key-[0-9a-f]{32}` + // Mailgun
		`|SK[0-9a-f]{32}` + // Twilio API keys
		`|dp\.(?:pt|st|sa|ct)\.[A-Za-z0-9]{20,}` + // Doppler
		`)\b`)
	// providerPrefixes are the literals providerKey needs, for the cheap
	// check.
	providerPrefixes = []string{"AKIA", "ASIA", "ABIA", "ACCA", "gh", "github_pat_", "xox", "xapp-", "sk_", "rk_",
		"whsec_", "gl", "AIza", "ya29.", "sk-", "npm_", "pypi-", "SG.", "hv", "dop_v1_", "shp", "key-", "SK", "dp."}
	// webhookPath matches the secret path of well-known webhook URLs;
	// group 1 is the secret.
	webhookPath = regexp.MustCompile(`(?i)(?:hooks\.slack\.com/(?:services|workflows|triggers)/|discord(?:app)?\.com/api/webhooks/[0-9]+/|webhook\.office\.com/webhookb2/|outlook\.office\.com/webhook/|chat\.googleapis\.com/v1/spaces/[^/\s]+/messages\?[^\s]*?key=)([^\s"'?#]+)`)
)

// Value returns v with the credential-bearing parts masked, and whether
// anything was. name is what v is stored under (an environment variable,
// header or flag name, or ""): a credential-like name masks the whole
// value unless it is clearly not a secret (empty, a boolean, a file path
// or a $(VAR) reference); a weaker one ("key", "salt", "signature") masks
// a long random-looking value. Whatever the name, credential shapes are
// masked where they occur: a URL's password, password= and token= pairs,
// --password flags, Bearer and Basic credentials, JWTs, PEM private keys,
// provider keys (AWS, GitHub, Slack, Stripe, GitLab, Google, ...) and the
// secret path of webhook URLs.
func Value(name, v string) (string, bool) {
	if v == "" || v == Mask {
		return v, false
	}
	switch classify(name) {
	case strong:
		if harmlessValue(v) {
			return v, false
		}
		return Mask, true
	case weak:
		if randomLooking(v) {
			return Mask, true
		}
	}
	return Shapes(v)
}

// Shapes returns v with every credential shape masked (see Value), and
// whether there was one. It ignores names.
func Shapes(v string) (string, bool) {
	if len(v) < 8 {
		return v, false
	}
	var spans []span
	add := func(re *regexp.Regexp, group int) {
		for _, m := range re.FindAllStringSubmatchIndex(v, -1) {
			if s, e := m[2*group], m[2*group+1]; s >= 0 && e > s && !harmlessValue(unquote(v[s:e])) {
				spans = append(spans, span{s, e})
			}
		}
	}
	if strings.Contains(v, "://") {
		if strings.Contains(v, "@") {
			add(urlUserinfo, 1)
		}
		add(webhookPath, 1)
	}
	if strings.ContainsAny(v, "=:") {
		add(kvSecret, 2)
	}
	if strings.Contains(v, "-") {
		for _, m := range flagValue.FindAllStringSubmatchIndex(v, -1) {
			if Name(v[m[2]:m[3]]) && !harmlessValue(unquote(v[m[4]:m[5]])) {
				spans = append(spans, span{m[4], m[5]})
			}
		}
	}
	if containsFold(v, "bearer") || containsFold(v, "basic") || containsFold(v, "authorization") {
		for _, m := range authScheme.FindAllStringSubmatchIndex(v, -1) {
			if c := v[m[2]:m[3]]; strings.ContainsAny(c, "0123456789+/=") || randomLooking(c) {
				spans = append(spans, span{m[2], m[3]})
			}
		}
	}
	if strings.Contains(v, "eyJ") {
		add(jwt, 0)
	}
	if strings.Contains(v, "PRIVATE KEY") {
		add(pemKey, 0)
	}
	for _, p := range providerPrefixes {
		if strings.Contains(v, p) {
			add(providerKey, 0)
			break
		}
	}
	if len(spans) == 0 {
		return v, false
	}
	return apply(v, spans), true
}

// apply replaces the spans of v with Mask, merging overlaps. A span that
// is already Mask stays as it is.
func apply(v string, spans []span) string {
	// Insertion sort: there are few spans.
	for i := 1; i < len(spans); i++ {
		for j := i; j > 0 && spans[j].start < spans[j-1].start; j-- {
			spans[j], spans[j-1] = spans[j-1], spans[j]
		}
	}
	var b strings.Builder
	b.Grow(len(v))
	pos := 0
	for _, s := range spans {
		if s.end <= pos {
			continue
		}
		if s.start < pos {
			s.start = pos
		}
		b.WriteString(v[pos:s.start])
		seg := v[s.start:s.end]
		if q := seg[0]; (q == '\'' || q == '"') && len(seg) >= 2 && seg[len(seg)-1] == q {
			b.WriteByte(q)
			b.WriteString(Mask)
			b.WriteByte(q)
		} else {
			b.WriteString(Mask)
		}
		pos = s.end
	}
	b.WriteString(v[pos:])
	return b.String()
}

// unquote strips one pair of matching quotes.
func unquote(s string) string {
	if len(s) >= 2 && (s[0] == '\'' || s[0] == '"') && s[len(s)-1] == s[0] {
		return s[1 : len(s)-1]
	}
	return s
}

func containsFold(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if strings.EqualFold(s[i:i+len(sub)], sub) {
			return true
		}
	}
	return false
}

// harmlessValue reports whether a value stored under a credential-like
// name is clearly not itself a secret.
func harmlessValue(v string) bool {
	t := strings.TrimSpace(v)
	switch strings.ToLower(t) {
	case "", "true", "false", "yes", "no", "on", "off", "enabled", "disabled", "none", "null", "redacted":
		return true
	}
	switch {
	case strings.HasPrefix(t, "/") && !strings.ContainsAny(t, " \t\n") && strings.Count(t, "/") > 1:
		return true // a file: PASSWORD_FILE-style mounts
	case strings.HasPrefix(t, "$(") && strings.HasSuffix(t, ")") && !strings.ContainsAny(t[2:len(t)-1], "$() "):
		return true // a reference to another variable, expanded by the kubelet
	case strings.HasPrefix(t, "${") && strings.HasSuffix(t, "}") && !strings.ContainsAny(t[2:len(t)-1], "${} "):
		return true
	}
	return false
}

// randomLooking reports whether v looks like a generated secret: one
// token of at least 16 characters from base64, hex or URL-safe alphabets,
// with high per-character entropy, and digits unless it is long.
func randomLooking(v string) bool {
	if len(v) < 16 || len(v) > 4096 {
		return false
	}
	var letters, digits bool
	var counts [256]int
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z':
			letters = true
		case c >= '0' && c <= '9':
			digits = true
		case strings.IndexByte("+/=_-.~", c) >= 0:
		default:
			return false
		}
		counts[c]++
	}
	if !letters {
		return false
	}
	var h float64
	n := float64(len(v))
	for _, c := range counts {
		if c > 0 {
			p := float64(c) / n
			h -= p * math.Log2(p)
		}
	}
	// Letters alone must be longer and more varied to count
	// (SWQOKODSQALRPCLNMEQG yes, PasswordResetTemplate no).
	if !digits {
		return len(v) >= 20 && h >= 3.5 && !strings.ContainsAny(v, "_-.")
	}
	return h >= 3.2
}

// Args returns args (a container's command or args, or a command line's
// argv) with credentials masked, and whether any was: the value of a
// credential-like flag in every spelling (--password=x, --password x,
// -password x), the value of a NAME=value argument with a credential-like
// NAME, and every credential shape (see Shapes). The result is a new
// slice when something changed; args is never modified.
func Args(args []string) ([]string, bool) {
	var out []string
	set := func(i int, v string) {
		if out == nil {
			out = append([]string(nil), args...)
		}
		out[i] = v
	}
	for i := 0; i < len(args); i++ {
		a := args[i]
		if strings.HasPrefix(a, "-") && len(a) > 1 {
			name, value, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
			if Name(name) {
				switch {
				case hasValue:
					if value != "" && !harmlessValue(value) {
						set(i, a[:len(a)-len(value)]+Mask)
					}
					continue
				case i+1 < len(args) && !strings.HasPrefix(args[i+1], "-") && !harmlessValue(args[i+1]):
					set(i+1, Mask)
					i++
					continue
				}
			}
		} else if k, value, ok := strings.Cut(a, "="); ok && value != "" && !strings.ContainsAny(k, " \t/") && Name(k) && !harmlessValue(value) {
			set(i, k+"="+Mask)
			continue
		}
		if m, ok := Shapes(a); ok {
			set(i, m)
		}
	}
	if out == nil {
		return args, false
	}
	return out, true
}
