package deploy

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
)

func TestLint(t *testing.T) {
	t.Parallel()
	for _, tc := range goodCases() {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if out, err := helm(append([]string{"lint", tc.chart}, tc.args...)...); err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
		})
	}
}

// TestTemplate renders each chart and checks which objects each set of
// values produces: optional objects (HPA, ServiceMonitor, Ingress)
// appear only when asked.
func TestTemplate(t *testing.T) {
	t.Parallel()
	want := map[string]map[string]int{
		"central defaults": {"Deployment": 3, "PodDisruptionBudget": 3, "NetworkPolicy": 3, "Service": 1,
			"ConfigMap": 4, "ServiceAccount": 1},
		"central production": {"Deployment": 3, "PodDisruptionBudget": 3, "HorizontalPodAutoscaler": 3,
			"NetworkPolicy": 5, "Service": 4, "ServiceMonitor": 3, "Ingress": 1, "ConfigMap": 4,
			"Secret": 1, "ServiceAccount": 1},
		"executor defaults": {"Deployment": 1, "PodDisruptionBudget": 1, "NetworkPolicy": 1, "ConfigMap": 1,
			"Secret": 1, "ServiceAccount": 1, "ClusterRole": 1, "ClusterRoleBinding": 1},
		"executor production": {"Deployment": 1, "PodDisruptionBudget": 1, "NetworkPolicy": 1, "ConfigMap": 1,
			"Secret": 1, "ServiceAccount": 1, "ClusterRole": 1, "ClusterRoleBinding": 1},
		"executor namespaced": {"Deployment": 1, "PodDisruptionBudget": 1, "NetworkPolicy": 1, "ConfigMap": 1,
			"Secret": 1, "ServiceAccount": 1, "Role": 2, "RoleBinding": 2},
	}
	for _, tc := range goodCases() {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			objs := render(t, tc.chart, "kubently", "kubently-system", tc.args...)
			got := map[string]int{}
			for _, o := range objs {
				got[o.GetKind()]++
			}
			if fmt.Sprint(got) != fmt.Sprint(want[tc.name]) {
				t.Errorf("kinds rendered:\n got  %v\n want %v", got, want[tc.name])
			}
		})
	}
}

// TestSchemaRejects feeds bad values to helm template: each must fail
// with a message naming the value (values.schema.json, or the
// templates' own checks for what a schema cannot say).
func TestSchemaRejects(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		chart string
		args  []string
		want  []string // substrings of the error
	}{
		{"nats url without scheme", centralChart, []string{"--set", "nats.url=nats.example.com:4222"},
			[]string{"/nats/url", "does not match pattern"}},
		{"unknown log level", centralChart, []string{"--set", "log.level=loud"}, []string{"log", "level", "loud"}},
		{"misspelt top-level key", centralChart, []string{"--set", "gatway.replicas=3"}, []string{"gatway"}},
		{"zero replicas", centralChart, []string{"--set", "gateway.replicas=0"}, []string{"gateway", "replicas", "minimum"}},
		{"audit replicas above 5", centralChart, []string{"--set", "audit.replicas=7"}, []string{"audit", "replicas"}},
		{"duration without unit", centralChart, []string{"--set-string", "dispatcher.drainTimeout=10sec"},
			[]string{"/dispatcher/drainTimeout", "10sec", "does not match pattern"}},
		{"key hash not hex", centralChart, []string{"--set", "auth.apiKeys[0].name=me", "--set", "auth.apiKeys[0].role=admin",
			"--set", "auth.apiKeys[0].sha256=plaintext-key"}, []string{"/auth/apiKeys/0/sha256", "plaintext-key"}},
		{"unknown role", centralChart, []string{"--set", "auth.apiKeys[0].name=me", "--set", "auth.apiKeys[0].role=root",
			"--set", "auth.apiKeys[0].sha256=" + strings.Repeat("a", 64)}, []string{"role", "root"}},
		{"redis URL of another scheme", centralChart, []string{"--set", "redis.url=http://redis:6379"}, []string{"redis", "url"}},
		{"drain not below the grace period", centralChart, []string{"--set", "dispatcher.drainTimeout=60s"},
			[]string{"dispatcher.drainTimeout 60s must be below dispatcher.terminationGracePeriodSeconds"}},
		{"OIDC without issuer", centralChart, []string{"--set", "auth.oidc.enabled=true", "--set", "auth.oidc.audience=x"},
			[]string{"auth.oidc.issuer is required"}},
		{"executor without values", executorChart, nil, []string{"required"}},
		{"executor without token", executorChart, []string{"--set", "clusterId=a", "--set", "gateway.url=https://g"},
			[]string{"token is required"}},
		{"executor short token", executorChart, []string{"--set", "clusterId=a", "--set", "gateway.url=https://g", "--set", "token=short"},
			[]string{"shorter than 16"}},
		{"executor cluster id with capitals", executorChart, append([]string{"--set", "clusterId=Prod_1"}, execRequired[2:]...),
			[]string{"/clusterId", "Prod_1"}},
		{"executor gateway URL not http", executorChart, []string{"--set", "clusterId=a", "--set", "gateway.url=gateway:80", "--set", "token=" + strings.Repeat("t", 20)},
			[]string{"gateway", "url"}},
		{"executor RBAC on secrets", executorChart, append([]string{"--set", "rbac.customResources[0].apiGroups={example.com}",
			"--set", "rbac.customResources[0].resources={secrets}"}, execRequired...), []string{"customResources", "secrets"}},
		{"executor RBAC wildcard", executorChart, append([]string{"--set", "rbac.customResources[0].apiGroups={*}",
			"--set", "rbac.customResources[0].resources={widgets}"}, execRequired...), []string{"/rbac/customResources/0/apiGroups/0", "'*'"}},
		{"executor unknown RBAC mode", executorChart, append([]string{"--set", "rbac.mode=all"}, execRequired...),
			[]string{"rbac", "mode"}},
		{"executor namespaced without namespaces", executorChart, append([]string{"--set", "rbac.mode=namespaced"}, execRequired...),
			[]string{"rbac.namespaces"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			out, err := helm(append([]string{"template", "kubently", tt.chart}, tt.args...)...)
			if err == nil {
				t.Fatalf("helm template accepted the values; rendered:\n%s", out)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not mention %q:\n%v", w, err)
				}
			}
		})
	}
}

func toTyped[T any](t testing.TB, o *unstructured.Unstructured) *T {
	t.Helper()
	var v T
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, &v); err != nil {
		t.Fatalf("%s/%s: %v", o.GetKind(), o.GetName(), err)
	}
	return &v
}

// TestRenderedHardening checks every rendered Deployment: rolling updates
// that never remove a ready replica first, hardened pod and container
// security, probes on declared ports, resources, no service-account token
// where the API is not used, and the dispatcher's drain inside the grace
// period.
func TestRenderedHardening(t *testing.T) {
	t.Parallel()
	for _, tc := range goodCases() {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			objs := render(t, tc.chart, "kubently", "kubently-system", tc.args...)
			deps := byKind(objs, "Deployment")
			if len(deps) == 0 {
				t.Fatal("no Deployment rendered")
			}
			for _, o := range deps {
				d := toTyped[appsv1.Deployment](t, o)
				checkDeployment(t, d, objs)
			}
		})
	}
}

func checkDeployment(t *testing.T, d *appsv1.Deployment, objs []*unstructured.Unstructured) {
	t.Helper()
	name := d.Name
	ru := d.Spec.Strategy.RollingUpdate
	if ru == nil || ru.MaxUnavailable == nil || ru.MaxUnavailable.IntValue() != 0 {
		t.Errorf("%s: rolling update maxUnavailable is not 0: %+v", name, ru)
	}
	ps := d.Spec.Template.Spec
	sc := ps.SecurityContext
	if sc == nil || sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot || sc.SeccompProfile == nil || sc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("%s: pod securityContext not hardened: %+v", name, sc)
	}
	component := d.Labels["app.kubernetes.io/component"]
	wantToken := component == "executor"
	if ps.AutomountServiceAccountToken == nil || *ps.AutomountServiceAccountToken != wantToken {
		t.Errorf("%s: automountServiceAccountToken = %v; want %v", name, ps.AutomountServiceAccountToken, wantToken)
	}
	if len(ps.TopologySpreadConstraints) == 0 {
		t.Errorf("%s: no topology spread", name)
	}
	if len(ps.Containers) != 1 {
		t.Fatalf("%s: %d containers; want 1", name, len(ps.Containers))
	}
	c := ps.Containers[0]
	cs := c.SecurityContext
	if cs == nil || cs.ReadOnlyRootFilesystem == nil || !*cs.ReadOnlyRootFilesystem || cs.AllowPrivilegeEscalation == nil ||
		*cs.AllowPrivilegeEscalation || cs.Capabilities == nil || !slices.Equal(cs.Capabilities.Drop, []corev1.Capability{"ALL"}) {
		t.Errorf("%s: container securityContext not hardened: %+v", name, cs)
	}
	if c.Resources.Requests.Cpu().IsZero() || c.Resources.Limits.Memory().IsZero() {
		t.Errorf("%s: resources not set: %+v", name, c.Resources)
	}
	ports := map[string]bool{}
	for _, p := range c.Ports {
		ports[p.Name] = true
	}
	for what, p := range map[string]*corev1.Probe{"startup": c.StartupProbe, "liveness": c.LivenessProbe, "readiness": c.ReadinessProbe} {
		if p == nil || p.HTTPGet == nil {
			t.Errorf("%s: no HTTP %s probe", name, what)
			continue
		}
		if !ports[p.HTTPGet.Port.String()] {
			t.Errorf("%s: %s probe on port %s, which the container does not declare", name, what, p.HTTPGet.Port.String())
		}
	}
	if c.ReadinessProbe != nil && c.ReadinessProbe.HTTPGet != nil && c.ReadinessProbe.HTTPGet.Path != "/readyz" {
		t.Errorf("%s: readiness probe path %s; want /readyz", name, c.ReadinessProbe.HTTPGet.Path)
	}
	switch component {
	case "gateway":
		if c.Lifecycle == nil || c.Lifecycle.PreStop == nil || c.Lifecycle.PreStop.Sleep == nil || c.Lifecycle.PreStop.Sleep.Seconds < 1 {
			t.Errorf("%s: no preStop sleep (endpoints must drop the replica before it ends its streams)", name)
		}
	case "dispatcher":
		env := resolvedEnv(t, c, objs, nil)
		drain, err := time.ParseDuration(env["KUBENTLY_DISPATCH_DRAIN_TIMEOUT"])
		if err != nil {
			t.Fatalf("%s: KUBENTLY_DISPATCH_DRAIN_TIMEOUT: %v", name, err)
		}
		if grace := time.Duration(*ps.TerminationGracePeriodSeconds) * time.Second; drain >= grace {
			t.Errorf("%s: drain timeout %s not below the grace period %s", name, drain, grace)
		}
	}
	// Every ConfigMap and Secret the pod refers to is rendered (or is one
	// the values name as existing).
	for _, ef := range c.EnvFrom {
		if ef.ConfigMapRef != nil && find(objs, "ConfigMap", ef.ConfigMapRef.Name) == nil {
			t.Errorf("%s: envFrom ConfigMap %s not rendered", name, ef.ConfigMapRef.Name)
		}
	}
	for _, v := range ps.Volumes {
		if v.ConfigMap != nil && find(objs, "ConfigMap", v.ConfigMap.Name) == nil {
			t.Errorf("%s: volume ConfigMap %s not rendered", name, v.ConfigMap.Name)
		}
		if v.Secret != nil && find(objs, "Secret", v.Secret.SecretName) == nil {
			t.Errorf("%s: volume Secret %s not rendered", name, v.Secret.SecretName)
		}
	}
}

// externalSecrets are Secrets the production values name as existing
// (created by the operator, not the chart).
var externalSecrets = map[string]bool{"kubently-redis": true}

// resolvedEnv returns the container's environment as the kubelet would
// build it from the rendered ConfigMaps and Secrets. A reference to a
// Secret the chart does not render is resolved from external, else it
// fails the test (unless the Secret is in externalSecrets: then skipped).
func resolvedEnv(t testing.TB, c corev1.Container, objs []*unstructured.Unstructured, external map[string]map[string]string) map[string]string {
	t.Helper()
	env := map[string]string{}
	for _, ef := range c.EnvFrom {
		if ef.ConfigMapRef == nil {
			t.Fatalf("container %s: envFrom other than a ConfigMap", c.Name)
		}
		for k, v := range configMapData(t, objs, ef.ConfigMapRef.Name) {
			env[ef.Prefix+k] = v
		}
	}
	for _, e := range c.Env {
		switch {
		case e.ValueFrom == nil:
			env[e.Name] = e.Value
		case e.ValueFrom.SecretKeyRef != nil:
			ref := e.ValueFrom.SecretKeyRef
			data, ok := external[ref.Name]
			if !ok {
				if find(objs, "Secret", ref.Name) == nil && externalSecrets[ref.Name] {
					continue
				}
				data = secretData(t, objs, ref.Name)
			}
			v, ok := data[ref.Key]
			if !ok {
				if ref.Optional != nil && *ref.Optional {
					continue
				}
				t.Fatalf("container %s: env %s: Secret %s has no key %s", c.Name, e.Name, ref.Name, ref.Key)
			}
			env[e.Name] = v
		case e.ValueFrom.ConfigMapKeyRef != nil:
			ref := e.ValueFrom.ConfigMapKeyRef
			env[e.Name] = configMapData(t, objs, ref.Name)[ref.Key]
		default:
			t.Fatalf("container %s: env %s: unsupported valueFrom", c.Name, e.Name)
		}
	}
	return env
}

func configMapData(t testing.TB, objs []*unstructured.Unstructured, name string) map[string]string {
	t.Helper()
	o := find(objs, "ConfigMap", name)
	if o == nil {
		t.Fatalf("ConfigMap %s not rendered", name)
	}
	return toTyped[corev1.ConfigMap](t, o).Data
}

func secretData(t testing.TB, objs []*unstructured.Unstructured, name string) map[string]string {
	t.Helper()
	o := find(objs, "Secret", name)
	if o == nil {
		t.Fatalf("Secret %s not rendered", name)
	}
	s := toTyped[corev1.Secret](t, o)
	out := map[string]string{}
	for k, v := range s.Data {
		out[k] = string(v)
	}
	for k, v := range s.StringData {
		out[k] = v
	}
	return out
}

// TestExecutorRBAC checks the executor's rules: only get, list and watch;
// never Secrets; no wildcard; and everything the command set reads.
func TestExecutorRBAC(t *testing.T) {
	t.Parallel()
	need := []string{"/pods", "/pods/log", "/nodes", "/events", "/namespaces", "/services", "/configmaps",
		"apps/deployments", "apps/replicasets", "apps/statefulsets", "apps/daemonsets", "apps/controllerrevisions",
		"batch/jobs", "batch/cronjobs", "networking.k8s.io/ingresses", "storage.k8s.io/storageclasses",
		"autoscaling/horizontalpodautoscalers", "policy/poddisruptionbudgets", "rbac.authorization.k8s.io/clusterroles",
		"apiextensions.k8s.io/customresourcedefinitions", "events.k8s.io/events", "metrics.k8s.io/pods", "metrics.k8s.io/nodes",
		"coordination.k8s.io/leases", "discovery.k8s.io/endpointslices"}
	for _, tc := range goodCases() {
		if tc.chart != executorChart {
			continue
		}
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			objs := render(t, tc.chart, "kubently-executor", "kubently", tc.args...)
			var rules []rbacv1.PolicyRule
			for _, o := range append(byKind(objs, "ClusterRole"), byKind(objs, "Role")...) {
				if o.GetKind() == "ClusterRole" {
					rules = append(rules, toTyped[rbacv1.ClusterRole](t, o).Rules...)
				} else {
					rules = append(rules, toTyped[rbacv1.Role](t, o).Rules...)
				}
			}
			if len(rules) == 0 {
				t.Fatal("no rules rendered")
			}
			granted := map[string]bool{}
			for _, r := range rules {
				for _, v := range r.Verbs {
					if v != "get" && v != "list" && v != "watch" {
						t.Errorf("rule %+v grants verb %q", r, v)
					}
				}
				if len(r.NonResourceURLs) > 0 || len(r.ResourceNames) > 0 {
					t.Errorf("rule %+v: unexpected nonResourceURLs/resourceNames", r)
				}
				for _, g := range r.APIGroups {
					if g == "*" {
						t.Errorf("rule %+v: wildcard API group", r)
					}
					for _, res := range r.Resources {
						if strings.Contains(res, "*") || res == "secrets" || strings.HasPrefix(res, "secrets/") {
							t.Errorf("rule %+v: grants %q", r, res)
						}
						granted[g+"/"+res] = true
					}
				}
			}
			if tc.name == "executor namespaced" {
				if len(byKind(objs, "ClusterRole")) != 0 {
					t.Error("namespaced mode rendered a ClusterRole")
				}
				for _, o := range byKind(objs, "Role") {
					if ns := o.GetNamespace(); ns != "shop" && ns != "data" {
						t.Errorf("Role in namespace %q; want shop and data only", ns)
					}
				}
				return
			}
			var missing []string
			for _, n := range need {
				if !granted[n] {
					missing = append(missing, n)
				}
			}
			sort.Strings(missing)
			if len(missing) > 0 {
				t.Errorf("the ClusterRole does not grant reading %v", missing)
			}
		})
	}
}

// containerEnvNames returns every variable a rendered Deployment's
// container gets, by service (the image's name).
func containerEnvNames(t testing.TB, objs []*unstructured.Unstructured) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	for _, o := range byKind(objs, "Deployment") {
		d := toTyped[appsv1.Deployment](t, o)
		c := d.Spec.Template.Spec.Containers[0]
		svc := imageService(c.Image)
		names := map[string]bool{}
		for _, ef := range c.EnvFrom {
			for k := range configMapData(t, objs, ef.ConfigMapRef.Name) {
				names[k] = true
			}
		}
		for _, e := range c.Env {
			names[e.Name] = true
		}
		for n := range names {
			out[svc] = append(out[svc], n)
		}
		sort.Strings(out[svc])
	}
	return out
}

// imageService is the service an image runs: the last path element of
// its repository ("ghcr.io/kubently/gateway:0.1.0" → "gateway").
func imageService(image string) string {
	repo := image
	if i := strings.LastIndex(repo, ":"); i > strings.LastIndex(repo, "/") {
		repo = repo[:i]
	}
	return repo[strings.LastIndex(repo, "/")+1:]
}

// TestRenderedEnvKnown checks that every variable the charts set is one
// the service's Config reads: for the defaults, the production values and
// with every optional credential feature on.
func TestRenderedEnvKnown(t *testing.T) {
	t.Parallel()
	allOn := []string{"--set", "nats.auth.mode=userPassword", "--set", "nats.auth.user=u", "--set", "nats.auth.password=p",
		"--set", "nats.tls.enabled=true", "--set", "nats.tls.existingSecret=nats-tls", "--set", "nats.tls.clientCert=true",
		"--set", "redis.auth.enabled=true", "--set", "redis.auth.password=p", "--set", "redis.tls.enabled=true",
		"--set", "redis.tls.existingSecret=redis-tls", "--set", "redis.tls.clientCert=true",
		"--set", "redis.sentinel.enabled=true", "--set", "redis.sentinel.addrs={s1:26379,s2:26379}",
		"--set", "gateway.ops.enabled=true", "--set", "gateway.ops.metricsTokenSecret.name=m", "--set", "gateway.ops.metricsTokenSecret.key=token",
		"--set", "tracing.enabled=true", "--set", "tracing.endpoint=http://otel:4318", "--set", "policy.file=x"}
	credsOn := []string{"--set", "nats.auth.mode=creds", "--set", "nats.auth.creds=jwt"}
	nkeyOn := []string{"--set", "nats.auth.mode=nkey", "--set", "nats.auth.nkeySeed=SU..."}
	cases := append(goodCases(),
		renderCase{"central all features", centralChart, allOn},
		renderCase{"central nats creds", centralChart, credsOn},
		renderCase{"central nats nkey", centralChart, nkeyOn})
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			objs := render(t, tc.chart, "kubently", "kubently-system", tc.args...)
			for svc, names := range containerEnvNames(t, objs) {
				known := knownEnv(t, svc)
				for _, n := range names {
					if !known[n] {
						t.Errorf("%s: the chart sets %s, which %s's Config does not read", svc, n, svc)
					}
				}
			}
		})
	}
}
