package deploy

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	authv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"kubently.io/libs/contracts"
	"kubently.io/libs/redistest"
	"kubently.io/libs/testbed"
	"kubently.io/libs/testkit"
)

const (
	// centralNS and execNS are this test's own namespaces.
	centralNS = "kubently-system-test"
	execNS    = "kubently-exec-test"
	// testCluster is the cluster id the executor registers as.
	testCluster = "deploy-test"
	// testKey is the admin API key whose hash testdata/central-install.yaml
	// puts in the chart's key file.
	testKey = "deploy-test-admin-key-0123456789abcdef"
	// fieldManager names this test's server-side applies.
	fieldManager = "kubently-deploy-test"
)

// cluster is the testbed: admin clients and the kubeconfig path.
type cluster struct {
	kubeconfig string
	cfg        *rest.Config
	kc         kubernetes.Interface
	dyn        dynamic.Interface
	mapper     meta.RESTMapper
}

func connectCluster(t *testing.T) *cluster {
	t.Helper()
	if testing.Short() {
		t.Skip("needs the testbed kube-apiserver")
	}
	path := testbed.Kubeconfig(t)
	cfg, err := clientcmd.BuildConfigFromFlags("", path)
	if err != nil {
		t.Fatal(err)
	}
	kc, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &cluster{kubeconfig: path, cfg: cfg, kc: kc, dyn: dyn,
		mapper: restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(dc))}
}

// resource returns the dynamic client for o's kind, in namespace ns when
// the kind is namespaced and o names none.
func (c *cluster) resource(o *unstructured.Unstructured, ns string) (dynamic.ResourceInterface, error) {
	gvk := o.GroupVersionKind()
	m, err := c.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if err != nil {
		return nil, err
	}
	if m.Scope.Name() != meta.RESTScopeNameNamespace {
		return c.dyn.Resource(m.Resource), nil
	}
	if o.GetNamespace() != "" {
		ns = o.GetNamespace()
	}
	return c.dyn.Resource(m.Resource).Namespace(ns), nil
}

// ensureNamespace creates the namespace (waiting out one a previous run
// is still deleting) and deletes it when the test ends.
func (c *cluster) ensureNamespace(t *testing.T, name string) {
	t.Helper()
	ctx := context.Background()
	testkit.CheckFor(t, 3*time.Minute, time.Second, func() error {
		_, err := c.kc.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
		if err == nil {
			return nil
		}
		if !apierrors.IsAlreadyExists(err) {
			t.Fatal(err)
		}
		ns, gerr := c.kc.CoreV1().Namespaces().Get(ctx, name, metav1.GetOptions{})
		if gerr == nil && ns.Status.Phase == corev1.NamespaceTerminating {
			return fmt.Errorf("namespace %s is still terminating", name)
		}
		return gerr
	})
	t.Cleanup(func() {
		_ = c.kc.CoreV1().Namespaces().Delete(context.Background(), name, metav1.DeleteOptions{})
	})
}

// noCRD reports whether err says the kind is not served (its CRD is not
// installed).
func noCRD(err error) bool { return meta.IsNoMatchError(err) }

// testDryRun applies every object of every render to the testbed
// kube-apiserver with a server-side dry run: the apiserver's own
// validation (schemas, defaulting, admission) must accept each.
func testDryRun(t *testing.T, c *cluster) {
	overlay := filepath.Join("tests", "deploy", "testdata", "central-install.yaml")
	cases := append(goodCases(), renderCase{"central production as installed", centralChart,
		[]string{"-f", centralChart + "/values-production.yaml", "-f", overlay, "--set", "metrics.serviceMonitor.enabled=true"}})
	total := 0
	for _, tc := range cases {
		if tc.name == "central production" {
			// Its NetworkPolicies for NATS and Redis go to namespaces nats
			// and redis, which the testbed does not have; the "as
			// installed" case renders them into this test's namespace.
			continue
		}
		t.Run(tc.name, func(t *testing.T) {
			for _, o := range render(t, tc.chart, "kubently", centralNS, tc.args...) {
				ri, err := c.resource(o, centralNS)
				if noCRD(err) && o.GetKind() == "ServiceMonitor" {
					t.Logf("skipped %s/%s: the testbed has no prometheus-operator CRD (monitoring.coreos.com)", o.GetKind(), o.GetName())
					continue
				}
				if err != nil {
					t.Errorf("%s/%s: %v", o.GetKind(), o.GetName(), err)
					continue
				}
				body, err := json.Marshal(o.Object)
				if err != nil {
					t.Fatal(err)
				}
				force := true
				_, err = ri.Patch(context.Background(), o.GetName(), types.ApplyPatchType, body,
					metav1.PatchOptions{DryRun: []string{metav1.DryRunAll}, FieldManager: fieldManager, Force: &force})
				if err != nil {
					t.Errorf("server-side dry run of %s/%s: %v", o.GetKind(), o.GetName(), err)
				}
				total++
			}
		})
	}
	t.Logf("%d objects accepted by the apiserver (dry run)", total)
}

// TestCluster runs the tests that need the testbed, in order, in this
// test's own namespaces: the dry run, then the real install.
func TestCluster(t *testing.T) {
	c := connectCluster(t)
	testbed.Seed(t)
	c.ensureNamespace(t, centralNS)
	c.ensureNamespace(t, execNS)
	t.Run("dry run", func(t *testing.T) { testDryRun(t, c) })
	t.Run("install", func(t *testing.T) { testInstall(t, c) })
}

// testInstall installs both charts into the testbed for real, checks the
// objects against the rendered manifests, runs the rendered pods as local
// processes end to end with the executor on its ServiceAccount's token,
// upgrades both releases and uninstalls them.
func testInstall(t *testing.T, c *cluster) {
	kc := []string{"--kubeconfig", c.kubeconfig}
	overlay := filepath.Join("tests", "deploy", "testdata", "central-install.yaml")
	centralArgs := append([]string{"-f", centralChart + "/values-production.yaml", "-f", overlay}, kc...)

	if out, err := helm(append([]string{"install", "kubently", centralChart, "-n", centralNS}, centralArgs...)...); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	t.Cleanup(func() { _, _ = helm(append([]string{"uninstall", "kubently", "-n", centralNS}, kc...)...) })
	central := installedObjects(t, c, "kubently", centralNS)

	// The central services, from the release's manifest, on a real
	// nats-server and redis-server.
	binDir := buildBinaries(t)
	natsAddr := startNATS(t, binDir)
	redis := redistest.Start(t)
	hosts := map[string]string{
		"nats." + centralNS + ".svc.cluster.local:4222":  natsAddr,
		"redis." + centralNS + ".svc.cluster.local:6379": redis.Addr(),
	}
	pods := map[string]*localPod{}
	for _, o := range byKind(central, "Deployment") {
		d := toTyped[appsv1.Deployment](t, o)
		pods[d.Labels["app.kubernetes.io/component"]] = startPod(t, binDir, d, central, podOptions{hosts: hosts})
	}
	for _, name := range []string{"session", "dispatcher", "gateway"} {
		pods[name].waitReady(t)
	}
	gw := pods["gateway"]
	gatewayURL := fmt.Sprintf("http://127.0.0.1:%d", gw.ports[8080])
	if keys := secretData(t, central, "kubently-api-keys")["keys.yaml"]; !strings.Contains(keys, sha256Hex(testKey)) {
		t.Fatalf("the chart's key Secret does not hold the test key's hash:\n%s", keys)
	}

	// Register the cluster through the token API, as docs/deploy.md does.
	var created struct {
		Token string `json:"token"`
	}
	status, body := call(t, gatewayURL, http.MethodPost, "/v1/clusters/"+testCluster+"/token", nil)
	if status != http.StatusCreated || json.Unmarshal(body, &created) != nil || created.Token == "" {
		t.Fatalf("token create: %d %s", status, body)
	}

	// The executor chart, for real, with read access to the seed's CRD.
	execArgs := append([]string{"--set", "clusterId=" + testCluster,
		"--set", "gateway.url=http://kubently-gateway." + centralNS + ".svc.cluster.local",
		"--set", "rbac.customResources[0].apiGroups={shop.example.com}", "--set", "rbac.customResources[0].resources={backups}"}, kc...)
	if out, err := helm(append([]string{"install", "kubently-executor", executorChart, "-n", execNS, "--set", "token=" + created.Token}, execArgs...)...); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	t.Cleanup(func() { _, _ = helm(append([]string{"uninstall", "kubently-executor", "-n", execNS}, kc...)...) })
	execObjs := installedObjects(t, c, "kubently-executor", execNS)

	// The executor as its ServiceAccount: a token from the TokenRequest
	// API stands in for the mounted one.
	sa := "kubently-executor"
	if find(execObjs, "ServiceAccount", sa) == nil {
		t.Fatalf("the executor chart installed no ServiceAccount %s", sa)
	}
	saKubeconfig, saCfg := serviceAccountKubeconfig(t, c, execNS, sa)
	execDep := toTyped[appsv1.Deployment](t, byKind(execObjs, "Deployment")[0])
	if ps := execDep.Spec.Template.Spec; ps.ServiceAccountName != sa || ps.AutomountServiceAccountToken == nil || !*ps.AutomountServiceAccountToken {
		t.Fatalf("executor pod: serviceAccountName %q, automount %v; want %s with its token", ps.ServiceAccountName, ps.AutomountServiceAccountToken, sa)
	}
	gwHost := "kubently-gateway." + centralNS + ".svc.cluster.local"
	ex := startPod(t, binDir, execDep, execObjs, podOptions{
		hosts:    map[string]string{gwHost: strings.TrimPrefix(gatewayURL, "http://")},
		extraEnv: []string{"KUBECONFIG=" + saKubeconfig},
	})
	ex.waitReady(t)

	t.Run("parity command set under the executor's RBAC", func(t *testing.T) {
		runParityCommands(t, c, gatewayURL)
	})

	t.Run("Secrets are Forbidden to the executor's token", func(t *testing.T) {
		skc, err := kubernetes.NewForConfig(saCfg)
		if err != nil {
			t.Fatal(err)
		}
		_, err = skc.CoreV1().Secrets("shop").List(context.Background(), metav1.ListOptions{})
		if !apierrors.IsForbidden(err) {
			t.Errorf("list secrets in shop with the executor's token: err = %v; want Forbidden", err)
		}
		_, err = skc.CoreV1().Secrets(metav1.NamespaceAll).List(context.Background(), metav1.ListOptions{})
		if !apierrors.IsForbidden(err) {
			t.Errorf("list secrets cluster-wide with the executor's token: err = %v; want Forbidden", err)
		}
		_, err = skc.CoreV1().Pods("shop").List(context.Background(), metav1.ListOptions{Limit: 1})
		if err != nil {
			t.Errorf("list pods with the executor's token: %v (the token must work, so the Forbidden above is RBAC)", err)
		}
		_, err = skc.CoreV1().ConfigMaps("shop").Create(context.Background(),
			&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "kubently-deploy-write-probe"}}, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		if !apierrors.IsForbidden(err) {
			t.Errorf("create a ConfigMap with the executor's token: err = %v; want Forbidden", err)
		}
	})

	t.Run("upgrade keeps the executor token Secret", func(t *testing.T) {
		ctx := context.Background()
		name := "kubently-executor-token"
		before, err := c.kc.CoreV1().Secrets(execNS).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		// Changed values and no token: the chart keeps the Secret's value.
		if out, err := helm(append([]string{"upgrade", "kubently-executor", executorChart, "-n", execNS,
			"--set", "replicas=3", "--set", "workers=4"}, execArgs...)...); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		after, err := c.kc.CoreV1().Secrets(execNS).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if string(after.Data["token"]) != created.Token || after.UID != before.UID {
			t.Errorf("token Secret changed on upgrade (uid %s → %s, same token: %v)", before.UID, after.UID, string(after.Data["token"]) == created.Token)
		}
		d, err := c.kc.AppsV1().Deployments(execNS).Get(ctx, "kubently-executor", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if *d.Spec.Replicas != 3 {
			t.Errorf("executor replicas after upgrade = %d; want 3", *d.Spec.Replicas)
		}
		cm, err := c.kc.CoreV1().ConfigMaps(execNS).Get(ctx, "kubently-executor", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if cm.Data["KUBENTLY_EXECUTOR_WORKERS"] != "4" {
			t.Errorf("KUBENTLY_EXECUTOR_WORKERS after upgrade = %q; want 4", cm.Data["KUBENTLY_EXECUTOR_WORKERS"])
		}
		// The central chart too: a changed value rolls the pods
		// (checksum annotation) and keeps the key Secret.
		dep0, err := c.kc.AppsV1().Deployments(centralNS).Get(ctx, "kubently-gateway", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if out, err := helm(append([]string{"upgrade", "kubently", centralChart, "-n", centralNS, "--set", "log.level=debug"}, centralArgs...)...); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		dep1, err := c.kc.AppsV1().Deployments(centralNS).Get(ctx, "kubently-gateway", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if dep0.Spec.Template.Annotations["checksum/config"] == dep1.Spec.Template.Annotations["checksum/config"] {
			t.Error("a config change did not change the gateway pods' checksum/config annotation")
		}
	})

	t.Run("uninstall removes the cluster-wide RBAC", func(t *testing.T) {
		if out, err := helm(append([]string{"uninstall", "kubently-executor", "-n", execNS}, kc...)...); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		for _, o := range byKind(execObjs, "ClusterRole") {
			_, err := c.kc.RbacV1().ClusterRoles().Get(context.Background(), o.GetName(), metav1.GetOptions{})
			if !apierrors.IsNotFound(err) {
				t.Errorf("ClusterRole %s after uninstall: %v; want NotFound", o.GetName(), err)
			}
		}
	})
}

func sha256Hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// installedObjects reads the release's manifest (helm get manifest) and
// checks that every object exists in the cluster as rendered.
func installedObjects(t *testing.T, c *cluster, release, ns string) []*unstructured.Unstructured {
	t.Helper()
	out, err := helm("get", "manifest", release, "-n", ns, "--kubeconfig", c.kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	objs, err := decodeObjects(out)
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]int{}
	for _, o := range objs {
		kinds[o.GetKind()]++
		ri, err := c.resource(o, ns)
		if err != nil {
			t.Fatalf("%s/%s: %v", o.GetKind(), o.GetName(), err)
		}
		got, err := ri.Get(context.Background(), o.GetName(), metav1.GetOptions{})
		if err != nil {
			t.Errorf("%s/%s of release %s: %v", o.GetKind(), o.GetName(), release, err)
			continue
		}
		for k, v := range o.GetLabels() {
			if got.GetLabels()[k] != v {
				t.Errorf("%s/%s: label %s = %q; rendered %q", o.GetKind(), o.GetName(), k, got.GetLabels()[k], v)
			}
		}
		for _, field := range [][]string{{"spec", "template", "spec", "containers"}, {"rules"}, {"spec", "ingress"},
			{"spec", "egress"}, {"spec", "metrics"}, {"spec", "maxUnavailable"}, {"data"}, {"roleRef"}} {
			want, ok, _ := unstructured.NestedFieldNoCopy(o.Object, field...)
			if !ok || o.GetKind() == "Secret" {
				continue
			}
			have, _, _ := unstructured.NestedFieldNoCopy(got.Object, field...)
			if !subset(want, have) {
				t.Errorf("%s/%s: %s differs from the rendered manifest:\nrendered %v\nin cluster %v",
					o.GetKind(), o.GetName(), strings.Join(field, "."), want, have)
			}
		}
	}
	t.Logf("release %s: %v", release, kinds)
	return objs
}

// subset reports whether every field of want is in have with the same
// value (the apiserver adds defaults; it must not change what was set).
func subset(want, have any) bool {
	switch w := want.(type) {
	case map[string]any:
		h, ok := have.(map[string]any)
		if !ok {
			return false
		}
		for k, v := range w {
			if !subset(v, h[k]) {
				return false
			}
		}
		return true
	case []any:
		h, ok := have.([]any)
		if !ok || len(h) != len(w) {
			return false
		}
		for i := range w {
			if !subset(w[i], h[i]) {
				return false
			}
		}
		return true
	default:
		return fmt.Sprint(want) == fmt.Sprint(have)
	}
}

// serviceAccountKubeconfig mints a token for the ServiceAccount with the
// TokenRequest API and writes a kubeconfig for the testbed with it.
func serviceAccountKubeconfig(t *testing.T, c *cluster, ns, sa string) (string, *rest.Config) {
	t.Helper()
	exp := int64(3600)
	tr, err := c.kc.CoreV1().ServiceAccounts(ns).CreateToken(context.Background(), sa,
		&authv1.TokenRequest{Spec: authv1.TokenRequestSpec{ExpirationSeconds: &exp}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("TokenRequest for %s/%s: %v", ns, sa, err)
	}
	raw, err := clientcmd.LoadFromFile(c.kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	cur := raw.Contexts[raw.CurrentContext]
	if cur == nil {
		t.Fatalf("kubeconfig %s has no current context", c.kubeconfig)
	}
	kcfg := clientcmdapi.NewConfig()
	kcfg.Clusters["testbed"] = raw.Clusters[cur.Cluster]
	kcfg.AuthInfos[sa] = &clientcmdapi.AuthInfo{Token: tr.Status.Token}
	kcfg.Contexts["executor"] = &clientcmdapi.Context{Cluster: "testbed", AuthInfo: sa}
	kcfg.CurrentContext = "executor"
	path := filepath.Join(t.TempDir(), "executor.kubeconfig")
	if err := clientcmd.WriteToFile(*kcfg, path); err != nil {
		t.Fatal(err)
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", path)
	if err != nil {
		t.Fatal(err)
	}
	return path, cfg
}

// call sends a client request to the gateway with the test's admin key.
func call(t testing.TB, base, method, path string, body any) (int, []byte) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = strings.NewReader(string(b))
	}
	for {
		req, err := http.NewRequest(method, base+path, rd)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set(contracts.HeaderAPIKey, testKey)
		req.Header.Set("Content-Type", "application/json")
		resp, err := (&http.Client{Timeout: 2 * time.Minute}).Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		b, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		if resp.StatusCode == http.StatusTooManyRequests && body != nil {
			// The production rate limits apply to this key too: wait as
			// told and send the same request again.
			time.Sleep(time.Second)
			bb, _ := json.Marshal(body)
			rd = strings.NewReader(string(bb))
			continue
		}
		return resp.StatusCode, b
	}
}

// parityCase is one command of the parity suite (tests/parity).
type parityCase struct {
	argv []string
	// fails: kubectl fails too (not found, bad input) — but never with
	// Forbidden.
	fails bool
	// either: success or failure depends on the seed's progress (never
	// Forbidden).
	either bool
}

// parityCommands are the commands tests/parity compares with kubectl on
// its admin cluster, run here under the executor chart's RBAC.
func parityCommands(t *testing.T, c *cluster) []parityCase {
	t.Helper()
	first := func(ns, selector string) string {
		l, err := c.kc.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{LabelSelector: selector})
		if err != nil || len(l.Items) == 0 {
			t.Fatalf("no pod with %s in %s (seed): %v", selector, ns, err)
		}
		names := make([]string, 0, len(l.Items))
		for _, p := range l.Items {
			names = append(names, p.Name)
		}
		sort.Strings(names)
		return names[0]
	}
	cart, recommender, payments := first("shop", "app=cart"), first("shop", "app=recommender"), first("shop", "app=payments")
	search, frontend := first("shop", "app=search"), first("shop", "app=frontend")
	ok := func(argv ...string) parityCase { return parityCase{argv: argv} }
	bad := func(argv ...string) parityCase { return parityCase{argv: argv, fails: true} }
	return []parityCase{
		ok("get", "pods", "-n", "shop"), ok("get", "pods", "-A"), ok("get", "pods", "-n", "shop", "-o", "wide"),
		ok("get", "deploy", "-n", "shop"), ok("get", "deployments.apps", "-n", "shop", "-o", "wide"), ok("get", "rs", "-n", "shop"),
		ok("get", "sts", "-n", "data"), ok("get", "ds", "-n", "monitoring", "-o", "wide"), ok("get", "jobs", "-n", "batch"),
		ok("get", "cronjobs", "-n", "batch"), ok("get", "svc", "-n", "shop"), ok("get", "configmaps", "-n", "shop"),
		ok("get", "nodes"), ok("get", "nodes", "-o", "wide"), ok("get", "ns", "--show-labels"),
		ok("get", "crd", "backups.shop.example.com"), ok("get", "backups", "-n", "data"), ok("get", "bk", "-A"),
		ok("get", "backups.shop.example.com", "postgres-nightly", "-n", "data", "-o", "yaml"),
		ok("get", "all", "-n", "shop"), ok("get", "all", "-n", "batch"),
		ok("get", "pod", cart, "-n", "shop", "-o", "json"), ok("get", "pod", recommender, "-n", "shop", "-o", "yaml"),
		ok("get", "deploy", "checkout", "-n", "shop", "-o", "yaml"), ok("get", "pods", "-n", "shop", "-o", "name"),
		ok("get", "pods", "-n", "shop", "-o", "jsonpath={.items[*].metadata.name}"),
		ok("get", "pods", "-n", "shop", "-o", "custom-columns=NAME:.metadata.name,PHASE:.status.phase"),
		ok("get", "pods", "-n", "shop", "-l", "tier=backend"), ok("get", "pods", "-n", "shop", "-l", "app in (cart,payments)"),
		ok("get", "pods", "-A", "--field-selector", "status.phase=Pending"), ok("get", "pods", "-n", "shop", "--show-labels"),
		ok("get", "pods", "-n", "shop", "-L", "app,tier"), ok("get", "pods", "-n", "shop", "--sort-by=.metadata.name"),
		ok("get", "pods", "-n", "shop", "--sort-by=.status.containerStatuses[0].restartCount"),
		ok("get", "deploy", "-A", "--no-headers", "-o", "wide"), ok("get", "pod", cart, frontend, "-n", "shop"),
		ok("get", "deploy/frontend", "svc/frontend", "-n", "shop"), ok("get", "events", "-n", "batch", "--sort-by=.metadata.name"),
		ok("get", "clusterrolebinding", "kubently-viewer", "-o", "wide"), ok("get", "pods", "-n", "kube-public"),
		ok("describe", "pod", cart, "-n", "shop"), ok("describe", "pod", recommender, "-n", "shop"),
		ok("describe", "pod", payments, "-n", "shop"), ok("describe", "pod", search, "-n", "shop"),
		ok("describe", "pods", "-n", "shop", "-l", "app=frontend"), ok("describe", "deploy", "checkout", "-n", "shop"),
		ok("describe", "svc", "inventory", "-n", "shop"), ok("describe", "job", "db-migrate", "-n", "batch"),
		ok("describe", "sts", "postgres", "-n", "data"), ok("describe", "cm", "frontend-config", "-n", "shop"),
		ok("describe", "backups", "postgres-nightly", "-n", "data"), ok("describe", "node", testbed.NodeName),
		ok("logs", cart, "-n", "shop"), ok("logs", cart, "-n", "shop", "--previous"), ok("logs", recommender, "-n", "shop", "-p"),
		ok("logs", "deploy/cart", "-n", "shop", "--previous"), ok("logs", frontend, "-n", "shop", "-c", "nginx", "--tail", "2"),
		ok("logs", frontend, "-n", "shop", "-c", "log-shipper", "--timestamps"), ok("logs", "deploy/frontend", "-n", "shop"),
		ok("logs", "job/db-migrate", "-n", "batch"), ok("logs", "statefulset/postgres", "-n", "data", "--tail", "1"),
		ok("events", "-n", "shop"), ok("events", "-n", "shop", "--types", "Warning"), ok("events", "-n", "shop", "--for", "pod/"+cart),
		ok("events", "-n", "batch", "--for", "job/db-migrate"), ok("events", "-A", "--types", "Warning"),
		ok("top", "pod", "-n", "shop"), ok("top", "pod", "-n", "shop", "--containers"), ok("top", "pod", "-A", "--sort-by", "memory"),
		ok("top", "pod", "-n", "shop", "-l", "app=frontend"), ok("top", "node"),
		ok("rollout", "history", "deploy/checkout", "-n", "shop"), ok("rollout", "history", "deploy/checkout", "-n", "shop", "--revision", "2"),
		ok("rollout", "history", "sts/postgres", "-n", "data"), ok("rollout", "history", "ds/node-exporter", "-n", "monitoring"),
		ok("rollout", "status", "deployment/frontend", "-n", "shop"), ok("rollout", "status", "sts/postgres", "-n", "data"),
		ok("api-resources"), ok("api-resources", "--namespaced=false"), ok("api-resources", "--api-group=apps", "-o", "wide"),
		ok("api-versions"), ok("version"), ok("cluster-info"), ok("explain", "pods.spec.nodeSelector"), ok("explain", "backups.spec"),
		ok("auth", "can-i", "list", "pods", "-n", "shop"),
		bad("get", "pod", "nope", "-n", "shop"), bad("get", "foos"), bad("describe", "deploy", "nope", "-n", "shop"),
		bad("rollout", "history", "deploy/nope", "-n", "shop"), bad("explain", "foos"),
		bad("logs", "nope", "-n", "shop"), bad("get", "pods", "-n", "shop", "-l", "app==="),
		// A stuck rollout: kubectl exits non-zero once the progress
		// deadline has passed, zero before.
		{argv: []string{"rollout", "status", "deploy/checkout", "-n", "shop"}, either: true},
		// The unschedulable pod's logs: the apiserver answers empty or an
		// error depending on how far the scheduler got (tests/parity holds
		// the answer equal to kubectl's).
		{argv: []string{"logs", search, "-n", "shop"}, either: true},
	}
}

// runParityCommands runs the parity command set through the gateway:
// every command that succeeds under kubectl succeeds here, and nothing
// is Forbidden.
func runParityCommands(t *testing.T, c *cluster, gatewayURL string) {
	cases := parityCommands(t, c)
	type outcome struct {
		tc     parityCase
		status int
		res    contracts.CommandResult
		raw    []byte
	}
	results := make([]outcome, len(cases))
	var wg sync.WaitGroup
	sem := make(chan struct{}, 4)
	for i, tc := range cases {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			status, raw := call(t, gatewayURL, http.MethodPost, "/v1/execute",
				map[string]any{"cluster_id": testCluster, "argv": tc.argv, "timeout_seconds": 60})
			o := outcome{tc: tc, status: status, raw: raw}
			_ = json.Unmarshal(raw, &o.res)
			results[i] = o
		})
	}
	wg.Wait()
	var ran, forbidden int
	for _, o := range results {
		cmdline := "kubectl " + strings.Join(o.tc.argv, " ")
		if o.status != http.StatusOK {
			t.Errorf("%s: HTTP %d %s", cmdline, o.status, o.raw)
			continue
		}
		ran++
		all := o.res.Output + "\n" + o.res.Error
		text := strings.ToLower(ownForbidden(all))
		if strings.Contains(text, "forbidden") {
			forbidden++
			t.Errorf("%s: Forbidden under the executor's RBAC:\n%s", cmdline, testkit.Tail(o.res.Output+o.res.Error, 5))
			continue
		}
		// Another package's CRDs (see ownForbidden) make a command that
		// lists them, such as get all, exit 1 as kubectl would.
		foreign := ownForbidden(all) != all
		switch {
		case o.tc.either || foreign:
			if o.res.Status != contracts.StatusSuccess && o.res.Status != contracts.StatusFailure {
				t.Errorf("%s: status %s; want success or failure", cmdline, o.res.Status)
			}
		case !o.tc.fails && o.res.Status != contracts.StatusSuccess:
			t.Errorf("%s: status %s (exit %d): %s", cmdline, o.res.Status, o.res.ExitCode, testkit.Tail(o.res.Error, 5))
		case o.tc.fails && o.res.Status != contracts.StatusFailure:
			t.Errorf("%s: status %s; want failure (as kubectl)", cmdline, o.res.Status)
		}
	}
	t.Logf("%d parity commands ran through the rendered pods, %d Forbidden", ran, forbidden)
	// The second wall, seen through Kubently: the executor's identity may
	// not read Secrets even if a policy allowed the command.
	status, raw := call(t, gatewayURL, http.MethodPost, "/v1/execute",
		map[string]any{"cluster_id": testCluster, "argv": []string{"auth", "can-i", "get", "secrets", "-n", "shop"}})
	var res contracts.CommandResult
	_ = json.Unmarshal(raw, &res)
	if status != http.StatusOK || strings.TrimSpace(res.Output) != "no" {
		t.Errorf("auth can-i get secrets as the executor: %d %q %q; want no", status, res.Output, res.Error)
	}
}

// seededGroup is the API group of the testbed's seeded custom resources,
// which the test grants the executor (rbac.customResources).
const seededGroup = "shop.example.com"

// forbiddenGroupRE finds the API group a Forbidden error names.
var forbiddenGroupRE = regexp.MustCompile(`in API group "([^"]*)"`)

// ownForbidden drops from out the Forbidden errors about custom resources
// of other test packages: they create CRDs in groups under example.com
// (some joining the "all" category) on the shared testbed while this test
// runs, and the chart grants only what the seeded cluster holds. A
// Forbidden error about a built-in kind or the seeded group stays.
func ownForbidden(out string) string {
	lines := strings.Split(out, "\n")
	kept := lines[:0]
	for _, l := range lines {
		if m := forbiddenGroupRE.FindStringSubmatch(l); m != nil && strings.Contains(strings.ToLower(l), "forbidden") &&
			m[1] != seededGroup && strings.HasSuffix(m[1], ".example.com") {
			continue
		}
		kept = append(kept, l)
	}
	return strings.Join(kept, "\n")
}

func TestOwnForbidden(t *testing.T) {
	out := strings.Join([]string{
		"replicaset.apps/web-1   1   1   0   5m",
		`Error from server (Forbidden): nsgadgets.scope0ba2facd.example.com is forbidden: User "x" cannot list resource "nsgadgets" in API group "scope0ba2facd.example.com" in the namespace "shop"`,
		`Error from server (Forbidden): backups.shop.example.com is forbidden: User "x" cannot list resource "backups" in API group "shop.example.com" in the namespace "shop"`,
		`Error from server (Forbidden): pods is forbidden: User "x" cannot list resource "pods" in API group "" in the namespace "shop"`,
		`Error from server (Forbidden): deployments.apps is forbidden: User "x" cannot list resource "deployments" in API group "apps" in the namespace "shop"`,
	}, "\n")
	got := ownForbidden(out)
	if strings.Contains(got, "scope0ba2facd") {
		t.Errorf("another test's CRD kept:\n%s", got)
	}
	for _, want := range []string{`"backups"`, `"pods"`, `"deployments"`, "replicaset.apps/web-1"} {
		if !strings.Contains(got, want) {
			t.Errorf("%s dropped:\n%s", want, got)
		}
	}
}
