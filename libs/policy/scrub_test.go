package policy

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestScrubArgv checks every spelling of a credential, target or file
// flag: the value is masked, the rest of argv kept.
func TestScrubArgv(t *testing.T) {
	const v = "s3cr3t-VALUE"
	const m = Mask
	tests := []struct {
		argv []string
		want []string
	}{
		{[]string{"get", "pods", "--token=" + v}, []string{"get", "pods", "--token=" + m}},
		{[]string{"get", "pods", "--token", v}, []string{"get", "pods", "--token", m}},
		{[]string{"get", "pods", "--token", "-" + v}, []string{"get", "pods", "--token", m}},
		{[]string{"get", "pods", "-s", v}, []string{"get", "pods", "-s", m}},
		{[]string{"get", "pods", "-s" + v}, []string{"get", "pods", "-s" + m}},
		{[]string{"get", "pods", "-s=" + v}, []string{"get", "pods", "-s=" + m}},
		{[]string{"get", "pods", "-As", v}, []string{"get", "pods", "-As", m}},
		{[]string{"get", "pods", "-As" + v}, []string{"get", "pods", "-As" + m}},
		{[]string{"get", "pods", "--server=" + v}, []string{"get", "pods", "--server=" + m}},
		{[]string{"get", "pods", "--server", v}, []string{"get", "pods", "--server", m}},
		{[]string{"get", "pods", "--kubeconfig", v}, []string{"get", "pods", "--kubeconfig", m}},
		{[]string{"get", "pods", "--kubeconfig=" + v}, []string{"get", "pods", "--kubeconfig=" + m}},
		{[]string{"get", "pods", "--as", v}, []string{"get", "pods", "--as", m}},
		{[]string{"get", "pods", "--as-group=" + v}, []string{"get", "pods", "--as-group=" + m}},
		{[]string{"get", "pods", "--as_group", v}, []string{"get", "pods", "--as_group", m}},
		{[]string{"get", "pods", "--as-uid=" + v}, []string{"get", "pods", "--as-uid=" + m}},
		{[]string{"get", "pods", "--password=" + v}, []string{"get", "pods", "--password=" + m}},
		{[]string{"get", "pods", "--password", v}, []string{"get", "pods", "--password", m}},
		{[]string{"get", "pods", "--username", v}, []string{"get", "pods", "--username", m}},
		{[]string{"get", "pods", "--user=" + v}, []string{"get", "pods", "--user=" + m}},
		{[]string{"get", "pods", "--context", v}, []string{"get", "pods", "--context", m}},
		{[]string{"get", "pods", "--cluster=" + v}, []string{"get", "pods", "--cluster=" + m}},
		{[]string{"get", "pods", "--client-key", v}, []string{"get", "pods", "--client-key", m}},
		{[]string{"get", "pods", "--client-certificate=" + v}, []string{"get", "pods", "--client-certificate=" + m}},
		{[]string{"get", "pods", "--certificate-authority", v}, []string{"get", "pods", "--certificate-authority", m}},
		{[]string{"get", "pods", "--insecure-skip-tls-verify=" + v}, []string{"get", "pods", "--insecure-skip-tls-verify=" + m}},
		{[]string{"get", "pods", "--insecure-skip-tls-verify", "web"}, []string{"get", "pods", "--insecure-skip-tls-verify", "web"}},
		{[]string{"get", "pods", "--tls-server-name", v}, []string{"get", "pods", "--tls-server-name", m}},
		{[]string{"get", "pods", "--request-timeout=" + v}, []string{"get", "pods", "--request-timeout=" + m}},
		{[]string{"get", "-f", v}, []string{"get", "-f", m}},
		{[]string{"get", "-f" + v}, []string{"get", "-f" + m}},
		{[]string{"get", "--filename=" + v}, []string{"get", "--filename=" + m}},
		{[]string{"get", "-k", v}, []string{"get", "-k", m}},
		{[]string{"get", "--kustomize", v}, []string{"get", "--kustomize", m}},
		{[]string{"logs", "-f", "web"}, []string{"logs", "-f", "web"}},
		// prefixes and extensions of credential flags
		{[]string{"get", "pods", "--tok=" + v}, []string{"get", "pods", "--tok=" + m}},
		{[]string{"get", "pods", "--serv", v}, []string{"get", "pods", "--serv", m}},
		{[]string{"get", "pods", "--token-file=" + v}, []string{"get", "pods", "--token-file=" + m}},
		{[]string{"get", "pods", "--bearer-token=" + v}, []string{"get", "pods", "--bearer-token=" + m}},
		{[]string{"get", "pods", "--kubeconfig-path", v}, []string{"get", "pods", "--kubeconfig-path", m}},
		// after --, and as the verb
		{[]string{"get", "pods", "--", "--token=" + v}, []string{"get", "pods", "--", "--token=" + m}},
		{[]string{"get", "pods", "--", "-s", v}, []string{"get", "pods", "--", "-s", m}},
		{[]string{"--token=" + v, "get"}, []string{"--token=" + m, "get"}},
		// allowed flags keep their values; a value that is itself a
		// flag is masked when its flag is
		{[]string{"get", "pods", "-n", "shop", "-l", "app=web", "-ojson"}, []string{"get", "pods", "-n", "shop", "-l", "app=web", "-ojson"}},
		{[]string{"get", "pods", "-l", "--server=" + v}, []string{"get", "pods", "-l", "--server=" + m}},
		{[]string{"version", "--client", "-o", "json"}, []string{"version", "--client", "-o", "json"}},
		{[]string{"get", "pods", "-n", "-s", v}, []string{"get", "pods", "-n", "-s", m}},
		// what the redactor masks
		{[]string{"logs", "web", "--grep=postgres://u:pw" + v + "@db"}, []string{"logs", "web", "--grep=postgres://u:" + m + "@db"}},
		{[]string{"get", "pods", "-l", "token=" + v}, []string{"get", "pods", "-l", "token=" + m}},
		{[]string{"get", "pods", "AKIAIOSFODNN7EXAMPLE"}, []string{"get", "pods", m}},
		{[]string{"get", "pods", "--db-password", v}, []string{"get", "pods", "--db-password", m}},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.argv, " "), func(t *testing.T) {
			orig := append([]string(nil), tt.argv...)
			got, changed := ScrubArgv(tt.argv)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("ScrubArgv(%q) mismatch (-want +got):\n%s", tt.argv, diff)
			}
			if changed != !cmp.Equal(orig, tt.want) {
				t.Errorf("ScrubArgv(%q) changed = %v", tt.argv, changed)
			}
			if !cmp.Equal(orig, tt.argv) {
				t.Errorf("ScrubArgv modified its input")
			}
		})
	}
}

// TestScrubArgvCommandLines checks the command-string form: a line split
// by SplitLine and scrubbed keeps no credential value, for every denied
// credential, target and file flag in every spelling.
func TestScrubArgvCommandLines(t *testing.T) {
	const v = "s3cr3t-VALUE"
	n := 0
	for name, r := range deniedFlags {
		if r != ReasonCredentialFlag && r != ReasonFileInput || name == "insecure-skip-tls-verify" || name == "recursive" {
			continue
		}
		var spellings []string
		if len(name) == 1 {
			spellings = []string{"-" + name + " " + v, "-" + name + v, "-" + name + "=" + v, "-A" + name + " " + v, "-- -" + name + " " + v}
		} else {
			u := strings.ReplaceAll(name, "-", "_")
			spellings = []string{"--" + name + "=" + v, "--" + name + " " + v, "--" + u + "=" + v, "--" + u + " " + v,
				"--" + name + "='" + v + "'", `--` + name + ` "` + v + `"`, "-- --" + name + "=" + v, "--" + name + "-data=" + v}
		}
		for _, sp := range spellings {
			for _, line := range []string{"get pods " + sp, "kubectl describe deploy web " + sp, "logs web-1 " + sp + " --tail=5"} {
				argv, err := SplitLine(line)
				if err != nil {
					t.Fatalf("SplitLine(%q): %v", line, err)
				}
				got, _ := ScrubArgv(argv)
				if strings.Contains(strings.Join(got, " "), "s3cr3t") {
					t.Errorf("ScrubArgv(%q) = %q keeps the value", line, got)
				}
				n++
			}
		}
	}
	// -f on logs is --follow; elsewhere it is a file.
	for _, line := range []string{"get -f " + v, "describe -f" + v, "get pods --filename " + v} {
		argv, _ := SplitLine(line)
		if got, _ := ScrubArgv(argv); strings.Contains(strings.Join(got, " "), "s3cr3t") {
			t.Errorf("ScrubArgv(%q) = %q keeps the value", line, got)
		}
	}
	if n < 100 {
		t.Errorf("checked %d spellings; want the whole table", n)
	}
}
