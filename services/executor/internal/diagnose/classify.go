package diagnose

import (
	"regexp"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// controllerRef returns the controller owner reference, or nil.
func controllerRef(refs []metav1.OwnerReference) *metav1.OwnerReference {
	for i := range refs {
		if refs[i].Controller != nil && *refs[i].Controller {
			return &refs[i]
		}
	}
	return nil
}

// classifyImagePull names why an image cannot be pulled from the text of
// the waiting message and the pod's events.
func classifyImagePull(reason, text string) string {
	t := strings.ToLower(text)
	switch {
	case reason == "InvalidImageName" || strings.Contains(t, "invalid reference format") || strings.Contains(t, "couldn't parse image"):
		return "invalid_image_name"
	case reason == "ErrImageNeverPull":
		return "image_never_pull"
	case containsAny(t, "manifest unknown", "manifest for", "not found", "notfound", "does not exist", "name unknown", "no such image"):
		if containsAny(t, "pull access denied", "may require authorization") {
			return "unauthorized_or_not_found"
		}
		return "image_not_found"
	case containsAny(t, "unauthorized", "authentication required", "access denied", "pull access denied", "403 forbidden", "401", "denied:", "no basic auth credentials"):
		return "unauthorized"
	case containsAny(t, "no such host", "i/o timeout", "connection refused", "dial tcp", "tls handshake", "network is unreachable", "context deadline exceeded", "server misbehaving", "timeout"):
		return "registry_unreachable"
	case containsAny(t, "toomanyrequests", "rate limit"):
		return "rate_limited"
	}
	return "unknown"
}

// schedulerClasses map the scheduler's FailedScheduling wording to a class,
// in the order they are checked.
var schedulerClasses = []struct{ class, pattern string }{
	{"insufficient_gpu", `(?i)insufficient [a-z0-9.\-]*/gpu|insufficient nvidia`},
	{"insufficient_cpu", `(?i)insufficient cpu`},
	{"insufficient_memory", `(?i)insufficient memory`},
	{"insufficient_ephemeral_storage", `(?i)insufficient ephemeral-storage`},
	{"too_many_pods", `(?i)too many pods`},
	{"untolerated_taint", `(?i)untolerated taint|had taint|taint\(s\) that the pod didn't tolerate`},
	{"node_selector_mismatch", `(?i)didn't match pod's node affinity/selector|node\(s\) didn't match node selector`},
	{"pod_anti_affinity", `(?i)anti-affinity`},
	{"pod_affinity", `(?i)didn't match pod affinity`},
	{"unbound_pvc", `(?i)unbound immediate persistentvolumeclaims|pod has unbound`},
	{"missing_pvc", `(?i)persistentvolumeclaim "[^"]*" not found`},
	{"volume_node_affinity", `(?i)volume node affinity conflict`},
	{"unschedulable_node", `(?i)node\(s\) were unschedulable`},
	{"topology_spread", `(?i)didn't match pod topology spread`},
	{"no_nodes", `(?i)no nodes available`},
}

var schedulerRes = func() []*regexp.Regexp {
	out := make([]*regexp.Regexp, len(schedulerClasses))
	for i, c := range schedulerClasses {
		out[i] = regexp.MustCompile(c.pattern)
	}
	return out
}()

// classifyScheduling returns every class the scheduler's message names,
// the first being the primary one.
func classifyScheduling(msg string) []string {
	var out []string
	for i, re := range schedulerRes {
		if re.MatchString(msg) {
			out = append(out, schedulerClasses[i].class)
		}
	}
	if len(out) == 0 {
		out = []string{"unknown"}
	}
	return out
}

// classifyCreateFailed names why a controller cannot create pods.
func classifyCreateFailed(msg string) string {
	t := strings.ToLower(msg)
	switch {
	case strings.Contains(t, "quota"):
		return "quota_exceeded"
	case strings.Contains(t, "must specify limits") || strings.Contains(t, "must specify requests") || strings.Contains(t, "limitrange"):
		return "limit_range"
	case strings.Contains(t, "violates podsecurity") || strings.Contains(t, "pod security"):
		return "pod_security"
	case strings.Contains(t, "admission webhook") || strings.Contains(t, "denied the request"):
		return "admission_webhook"
	case strings.Contains(t, "serviceaccount") && strings.Contains(t, "not found"):
		return "missing_service_account"
	case strings.Contains(t, "forbidden"):
		return "forbidden"
	}
	return "unknown"
}

// configRefRes parse the kubelet's CreateContainerConfigError messages.
var (
	configMissingRe = regexp.MustCompile(`(?i)(configmap|secret) "([^"]+)" not found`)
	configKeyRe     = regexp.MustCompile(`(?i)couldn't find key (\S+) in (ConfigMap|Secret) ([^\s/]+)/(\S+)`)
)

// classifyConfigError returns the cause and the object (and key) missing,
// from a CreateContainerConfigError message. Names only: never a value.
func classifyConfigError(msg string) (cause, kind, name, key string) {
	if m := configKeyRe.FindStringSubmatch(msg); m != nil {
		kind = canonicalKind(m[2])
		return "missing_" + strings.ToLower(kind) + "_key", kind, m[4], m[1]
	}
	if m := configMissingRe.FindStringSubmatch(msg); m != nil {
		kind = canonicalKind(m[1])
		return "missing_" + strings.ToLower(kind), kind, m[2], ""
	}
	if strings.Contains(strings.ToLower(msg), "runasnonroot") || strings.Contains(strings.ToLower(msg), "non-root") {
		return "run_as_non_root", "", "", ""
	}
	return "unknown", "", "", ""
}

func canonicalKind(s string) string {
	if strings.EqualFold(s, "configmap") {
		return "ConfigMap"
	}
	return "Secret"
}

// errorLineRe picks the lines of a log worth showing.
var errorLineRe = regexp.MustCompile(`(?i)\b(error|err|fatal|panic|exception|traceback|fail(ed|ure)?|refused|denied|timed? ?out|no such|not found|cannot|can't|unable|killed|out of memory|oom|exit(ing)? with|segmentation)\b`)

// errorLines returns up to max matching lines of log, the last ones.
func errorLines(log string, limit int) []string {
	var out []string
	for _, l := range strings.Split(log, "\n") {
		l = strings.TrimSpace(l)
		if l != "" && errorLineRe.MatchString(l) {
			if len(l) > 300 {
				l = l[:300] + "…"
			}
			out = append(out, l)
		}
	}
	if len(out) > limit {
		out = out[len(out)-limit:]
	}
	return out
}

func containsAny(s string, subs ...string) bool {
	for _, x := range subs {
		if strings.Contains(s, x) {
			return true
		}
	}
	return false
}
