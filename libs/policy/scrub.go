package policy

import (
	"strings"

	"kubently.io/libs/policy/sensitive"
)

// Mask replaces a scrubbed value in ScrubArgv's result.
const Mask = sensitive.Mask

// valueTakingDenied reports whether the denied flag name (long or short)
// takes a value whose content must not be kept: credential, target and
// file flags. The boolean ones (--insecure-skip-tls-verify, -R, watch
// and follow) have none worth hiding in the separate-argument form.
func valueTakingDenied(name, verb string) bool {
	switch name {
	case "f":
		return verb != "logs" // -f is --filename, but --follow on logs
	case "insecure-skip-tls-verify", "recursive":
		return false
	}
	r, ok := deniedFlags[name]
	return ok && (r == ReasonCredentialFlag || r == ReasonFileInput)
}

// credentialPrefix reports whether the long flag name is a prefix or an
// extension of a credential, target or file flag ("--tok", "--token-data",
// "--kubeconfig-path") that is not itself an allowed flag: a spelling
// that some reader might take for the flag it resembles.
func credentialPrefix(name string) bool {
	if len(name) < 2 || knownFlag(name) {
		return false
	}
	for d, r := range deniedFlags {
		if len(d) < 2 || (r != ReasonCredentialFlag && r != ReasonFileInput) {
			continue
		}
		if strings.HasPrefix(d, name) || strings.HasPrefix(name, d+"-") {
			return true
		}
	}
	return false
}

// knownFlag reports whether name is an allowed long flag of some verb.
func knownFlag(name string) bool {
	if _, ok := commonFlags[name]; ok {
		return true
	}
	for _, fs := range verbFlags {
		if _, ok := fs[name]; ok {
			return true
		}
	}
	return false
}

// ScrubArgv returns argv with every value that must not be stored masked,
// for audit records and logs: the values of credential, target and file
// flags (deniedFlags) in every spelling — "--token=x", "--token x",
// "-s x", "-sx", "-s=x", bundles such as "-As x", "--as_group=x",
// prefixes and extensions such as "--tok=x" or "--token-file=x", and the
// same after "--" — plus whatever package sensitive finds: values of
// credential-like flags and NAME=value pairs (--password=x,
// DB_PASSWORD=x), URL passwords, JWTs, provider keys and PEM keys. It
// reports whether anything changed; argv itself is never modified.
func ScrubArgv(argv []string) ([]string, bool) {
	var out []string
	set := func(i int, v string) {
		if out == nil {
			out = append([]string(nil), argv...)
		}
		out[i] = v
	}
	verb := ""
	if len(argv) > 0 {
		verb = argv[0]
	}
	masked := make([]bool, len(argv))
	for i := 0; i < len(argv); i++ {
		a := argv[i]
		if a == "--" || a == "-" || !strings.HasPrefix(a, "-") {
			continue
		}
		if strings.HasPrefix(a, "--") {
			name, value, hasValue := strings.Cut(a[2:], "=")
			norm := strings.ReplaceAll(name, "_", "-")
			exact := valueTakingDenied(norm, verb)
			_, denied := deniedFlags[norm]
			if !exact && !denied && !credentialPrefix(norm) && !sensitive.Name(norm) {
				continue
			}
			switch {
			case denied && !exact && !hasValue:
				// A boolean denied flag (--insecure-skip-tls-verify):
				// the next argument is not its value.
			case hasValue:
				if value != "" {
					set(i, a[:len(a)-len(value)]+Mask)
				}
				masked[i] = true
			case i+1 < len(argv) && (exact || !strings.HasPrefix(argv[i+1], "-")):
				// pflag takes the next argument as the value, even one
				// that starts with "-".
				set(i+1, Mask)
				masked[i+1] = true
				i++
			}
			continue
		}
		// Short flags: a bundle of booleans, then at most one flag that
		// takes the rest of the argument or the next one as its value.
		body := a[1:]
		for j := 0; j < len(body); j++ {
			s := body[j : j+1]
			long, isValueFlag := shortFlags[s]
			if isValueFlag {
				isValueFlag = flagTakesValue(long)
			}
			denied := valueTakingDenied(s, verb)
			if !denied && !isValueFlag {
				continue // a boolean in the bundle, or unknown
			}
			rest := strings.TrimPrefix(body[j+1:], "=")
			switch {
			case !denied:
				// An allowed value flag (-n, -l, -o): the value is kept,
				// unless it is a flag itself ("-l --server=x"), which
				// the loop judges next.
				if rest == "" && i+1 < len(argv) && !strings.HasPrefix(argv[i+1], "-") {
					i++
				}
			case rest != "":
				set(i, a[:len(a)-len(rest)]+Mask)
				masked[i] = true
			case i+1 < len(argv):
				set(i+1, Mask)
				masked[i+1] = true
				i++
			}
			break
		}
	}
	cur := argv
	if out != nil {
		cur = out
	}
	for i, a := range cur {
		if masked[i] {
			continue
		}
		if m, ok := sensitive.Args([]string{a}); ok {
			set(i, m[0])
		}
	}
	if out == nil {
		return argv, false
	}
	return out, true
}

// flagTakesValue reports whether the allowed long flag takes a value in
// any verb.
func flagTakesValue(long string) bool {
	if s, ok := commonFlags[long]; ok && s.kind == valueFlag {
		return true
	}
	for _, fs := range verbFlags {
		if s, ok := fs[long]; ok && s.kind == valueFlag {
			return true
		}
	}
	return false
}
