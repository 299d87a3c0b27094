package kubeexec_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"kubently.io/libs/contracts"
	"kubently.io/libs/testbed"
	"kubently.io/libs/testkit"
	"kubently.io/services/executor/internal/kubeexec"
)

// seededFaults is the ground truth of the testbed seed (hack/testbed/seed,
// docs/demo.md): every fault, by namespace, as rule/cause/object. The
// healthy namespaces data and monitoring have none. docs/diagnose.md
// publishes the precision and recall of this table.
var seededFaults = map[string][]string{
	"shop": {
		"crashloop/exit_code_1/Deployment/cart",
		"oom_killed/crashloop/Deployment/recommender",
		"image_pull/image_not_found/Deployment/payments",
		"unschedulable/node_selector_mismatch/Deployment/search",
		"rollout_stuck/probe_failing:readiness/Deployment/checkout",
		"service_no_matching_pods//Service/inventory",
	},
	"demo":       {"crashloop/exit_code_1/Pod/crashy"},
	"batch":      {"job_failed/BackoffLimitExceeded/Job/db-migrate", "cronjob_suspended//CronJob/nightly-report"},
	"data":       {},
	"monitoring": {},
}

// countingTransport counts the requests that reach the API server.
type countingTransport struct {
	n    *atomic.Int64
	next http.RoundTripper
}

func (c countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.n.Add(1)
	return c.next.RoundTrip(r)
}

// diagnoseRunner returns a Runner on kubeconfig whose API requests are
// counted.
func diagnoseRunner(t *testing.T, kubeconfig string) (*kubeexec.Runner, *atomic.Int64) {
	t.Helper()
	cfg := restConfig(t, kubeconfig)
	n := &atomic.Int64{}
	cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper { return countingTransport{n: n, next: rt} })
	r, err := kubeexec.New(kubeexec.Config{REST: cfg, Cluster: "testbed"})
	if err != nil {
		t.Fatal(err)
	}
	return r, n
}

// diagnoseNS runs `diagnose -n ns` (or -A) through the Runner and returns
// the report and the API requests it made.
func diagnoseNS(t *testing.T, r *kubeexec.Runner, n *atomic.Int64, args ...string) (contracts.DiagnoseReport, int64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	before := n.Load()
	res := r.Run(ctx, append([]string{"diagnose"}, args...))
	calls := n.Load() - before
	if res.ExitCode != 0 {
		t.Fatalf("diagnose %v: exit %d: %s", args, res.ExitCode, res.Error)
	}
	var rep contracts.DiagnoseReport
	if err := json.Unmarshal(res.Structured, &rep); err != nil {
		t.Fatalf("diagnose %v: structured: %v\n%s", args, err, res.Output)
	}
	return rep, calls
}

func keys(rep contracts.DiagnoseReport) []string {
	out := []string{}
	for _, f := range rep.Findings {
		out = append(out, f.Rule+"/"+f.Cause+"/"+f.Object.Kind+"/"+f.Object.Name)
	}
	sort.Strings(out)
	return out
}

func report(rep contracts.DiagnoseReport) string {
	var b strings.Builder
	_ = rep.WriteText(&b, "testbed")
	return b.String()
}

// TestDiagnoseSeed diagnoses every namespace of the seeded broken shop
// through the executor's Runner (read-only transport) and checks that
// every seeded fault is found once with its root cause, nothing else is
// reported, healthy namespaces give no finding, and the report counts the
// API requests the Runner made.
func TestDiagnoseSeed(t *testing.T) {
	testbed.Seed(t)
	r, n := diagnoseRunner(t, testbed.ViewerKubeconfig(t))
	diagnoseNS(t, r, n, "-n", "default") // first run: discovery for the redactor
	for ns, want := range seededFaults {
		t.Run(ns, func(t *testing.T) {
			rep, calls := diagnoseNS(t, r, n, "-n", ns)
			got := keys(rep)
			w := slices.Clone(want)
			sort.Strings(w)
			if !slices.Equal(got, w) {
				t.Errorf("findings in %s:\n got %q\nwant %q\n%s", ns, got, w, report(rep))
			}
			if int64(rep.APICalls) != calls {
				t.Errorf("report counts %d API calls; the transport saw %d", rep.APICalls, calls)
			}
			for _, f := range rep.Findings {
				if f.Title == "" || len(f.Evidence) == 0 || len(f.Next) == 0 {
					t.Errorf("finding %s lacks title, evidence or next steps: %+v", f.ID, f)
				}
			}
			t.Logf("%s: %d findings, %d API calls, %d ms", ns, len(rep.Findings), calls, rep.DurationMS)
		})
	}
	// The evidence names the root cause.
	rep, _ := diagnoseNS(t, r, n, "-n", "shop")
	text := report(rep)
	for _, s := range []string{
		"lookup redis.shop.svc",     // cart: error line of the previous log, searched in the cluster
		"256Mi",                     // recommender: the memory limit
		"2.4.0-rc1",                 // payments: the image
		"disktype=ssd",              // search: the node selector
		"ProgressDeadlineExceeded",  // checkout: the stuck rollout
		"app=inventory-api",         // inventory: the selector
		"related: ReplicaSet/",      // grouped along owner references
		"kubently exec testbed -- ", // next commands
	} {
		if !strings.Contains(text, s) {
			t.Errorf("shop report lacks %q:\n%s", s, text)
		}
	}
	if rep, _ := diagnoseNS(t, r, n, "-n", "batch"); !strings.Contains(report(rep), "exit code 3") {
		t.Errorf("batch report lacks the failed pod's exit code:\n%s", report(rep))
	}
}

// TestDiagnoseFixtures creates the states the seed lacks in a namespace of
// its own, on the real testbed (real controllers and scheduler, kwok for
// pods), including healthy states that must not be flagged.
func TestDiagnoseFixtures(t *testing.T) {
	c := setupDiagnoseNS(t)
	ctx := context.Background()
	cs, ns := c.cs, c.ns
	must := func(_ any, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	lbl := func(app string, extra ...string) map[string]string {
		m := map[string]string{"app": app}
		for i := 0; i+1 < len(extra); i += 2 {
			m[extra[i]] = extra[i+1]
		}
		return m
	}
	deploy := func(name string, replicas int32, podLabels map[string]string, deadline int32, mut func(*corev1.PodSpec)) {
		spec := corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "example/" + name + ":1"}}}
		if mut != nil {
			mut(&spec)
		}
		d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(replicas), Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}},
			ProgressDeadlineSeconds: ptr.To(deadline),
			Template:                corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: podLabels}, Spec: spec}}}
		must(cs.AppsV1().Deployments(ns).Create(ctx, d, metav1.CreateOptions{}))
	}
	// Healthy: a Deployment with its Service, a PDB with room, a completed Job.
	deploy("web", 2, lbl("web"), 600, nil)
	must(cs.CoreV1().Services(ns).Create(ctx, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: corev1.ServiceSpec{Selector: lbl("web"), Ports: []corev1.ServicePort{{Name: "http", Port: 80}}}}, metav1.CreateOptions{}))
	must(cs.PolicyV1().PodDisruptionBudgets(ns).Create(ctx, &policyv1.PodDisruptionBudget{ObjectMeta: metav1.ObjectMeta{Name: "web-ok"},
		Spec: policyv1.PodDisruptionBudgetSpec{MinAvailable: ptr.To(intstr.FromInt32(1)), Selector: &metav1.LabelSelector{MatchLabels: lbl("web")}}}, metav1.CreateOptions{}))
	must(cs.BatchV1().Jobs(ns).Create(ctx, &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: "report"}, Spec: batchv1.JobSpec{
		Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever,
			Containers: []corev1.Container{{Name: "report", Image: "example/report:1"}}}}}}, metav1.CreateOptions{}))
	// Healthy: a rollout in progress (pods not ready yet, within its deadline).
	deploy("rolling", 1, lbl("rolling", "testbed/not-ready", "true"), 3600, func(s *corev1.PodSpec) {
		s.Containers[0].ReadinessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/ready", Port: intstr.FromInt32(8080)}}}
	})
	// A PDB that blocks every disruption.
	must(cs.PolicyV1().PodDisruptionBudgets(ns).Create(ctx, &policyv1.PodDisruptionBudget{ObjectMeta: metav1.ObjectMeta{Name: "web-strict"},
		Spec: policyv1.PodDisruptionBudgetSpec{MaxUnavailable: ptr.To(intstr.FromInt32(0)), Selector: &metav1.LabelSelector{MatchLabels: lbl("web")}}}, metav1.CreateOptions{}))
	// Pending: more CPU than the node has.
	deploy("huge", 1, lbl("huge"), 600, func(s *corev1.PodSpec) {
		s.Containers[0].Resources.Requests = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("500")}
	})
	// A pending claim whose StorageClass does not exist.
	must(cs.CoreV1().PersistentVolumeClaims(ns).Create(ctx, &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: "data"},
		Spec: corev1.PersistentVolumeClaimSpec{StorageClassName: ptr.To("no-such-class"), AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources: corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}}}}, metav1.CreateOptions{}))
	// An Ingress whose backend Service and IngressClass are missing.
	must(cs.NetworkingV1().Ingresses(ns).Create(ctx, &networkingv1.Ingress{ObjectMeta: metav1.ObjectMeta{Name: "shop"},
		Spec: networkingv1.IngressSpec{IngressClassName: ptr.To("no-such-class-" + c.suffix), Rules: []networkingv1.IngressRule{{Host: "shop.example.com",
			IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{Paths: []networkingv1.HTTPIngressPath{{Path: "/",
				PathType: ptr.To(networkingv1.PathTypePrefix), Backend: networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{
					Name: "storefront", Port: networkingv1.ServiceBackendPort{Number: 80}}}}}}}}}}}, metav1.CreateOptions{}))
	// An HPA whose target does not exist.
	must(cs.AutoscalingV2().HorizontalPodAutoscalers(ns).Create(ctx, &autoscalingv2.HorizontalPodAutoscaler{ObjectMeta: metav1.ObjectMeta{Name: "ghost"},
		Spec: autoscalingv2.HorizontalPodAutoscalerSpec{MaxReplicas: 3, ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "ghost"}}},
		metav1.CreateOptions{}))
	// Pods whose container state we write like a kubelet would (kwok
	// leaves a Running pod alone): a restart a day ago (healthy), an OOM
	// kill ten minutes ago, a restart storm, a missing Secret, an eviction.
	type podState struct {
		name string
		set  func(p *corev1.Pod)
	}
	terminated := func(reason string, code int32, restarts int32, at time.Duration) func(p *corev1.Pod) {
		return func(p *corev1.Pod) {
			cs := &p.Status.ContainerStatuses[0]
			cs.RestartCount = restarts
			cs.LastTerminationState = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{Reason: reason, ExitCode: code,
				StartedAt: metav1.NewTime(time.Now().Add(-at - time.Hour)), FinishedAt: metav1.NewTime(time.Now().Add(-at))}}
		}
	}
	states := []podState{
		{"restarted-yesterday", terminated("Error", 1, 1, 24*time.Hour)},
		{"oom-recent", terminated("OOMKilled", 137, 1, 10*time.Minute)},
		{"flapping", terminated("Error", 2, 6, 5*time.Minute)},
		{"no-secret", func(p *corev1.Pod) {
			p.Status.ContainerStatuses[0].Ready = false
			p.Status.ContainerStatuses[0].State = corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CreateContainerConfigError",
				Message: `couldn't find key password in Secret ` + ns + `/db-credentials`}}
		}},
		{"evicted", func(p *corev1.Pod) {
			p.Status.Phase, p.Status.Reason = corev1.PodFailed, "Evicted"
			p.Status.Message = "The node was low on resource: memory. Threshold quantity: 100Mi, available: 60Mi."
		}},
	}
	for _, st := range states {
		must(cs.CoreV1().Pods(ns).Create(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: st.name, Labels: lbl(st.name)},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "example/app:1",
				Resources: corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("128Mi")}}}}}}, metav1.CreateOptions{}))
	}
	for _, st := range states {
		testkit.CheckFor(t, 90*time.Second, 200*time.Millisecond, func() error {
			p, err := cs.CoreV1().Pods(ns).Get(ctx, st.name, metav1.GetOptions{})
			if err != nil {
				return err
			}
			if p.Status.Phase != corev1.PodRunning || len(p.Status.ContainerStatuses) == 0 {
				return fmt.Errorf("pod %s is %s", st.name, p.Status.Phase)
			}
			st.set(p)
			_, err = cs.CoreV1().Pods(ns).UpdateStatus(ctx, p, metav1.UpdateOptions{})
			return err
		})
	}
	// A ReplicaSet that cannot create pods: a quota of zero pods.
	must(cs.CoreV1().ResourceQuotas(ns).Create(ctx, &corev1.ResourceQuota{ObjectMeta: metav1.ObjectMeta{Name: "frozen"},
		Spec: corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{corev1.ResourcePods: resource.MustParse("13")}}}, metav1.CreateOptions{}))
	testkit.CheckFor(t, 60*time.Second, 200*time.Millisecond, func() error {
		q, err := cs.CoreV1().ResourceQuotas(ns).Get(ctx, "frozen", metav1.GetOptions{})
		if err != nil {
			return err
		}
		if _, ok := q.Status.Used[corev1.ResourcePods]; !ok {
			return fmt.Errorf("quota not computed yet")
		}
		return nil
	})
	deploy("blocked", 20, lbl("blocked"), 600, nil)

	want := []string{
		"evicted/memory_pressure/Pod/evicted",
		"config_error/missing_secret_key/Pod/no-secret",
		"oom_killed/running_again/Pod/oom-recent",
		"restart_storm/exit_code_2/Pod/flapping",
		"unschedulable/insufficient_cpu/Deployment/huge",
		"pvc_pending/storage_class_not_found/PersistentVolumeClaim/data",
		"ingress_backend_missing/service_not_found/Ingress/shop",
		"ingress_class_missing/class_not_found/Ingress/shop",
		"hpa_unable_to_scale/missing_target/HorizontalPodAutoscaler/ghost",
		"pdb_blocks_disruption//PodDisruptionBudget/web-strict",
		"pod_create_failed/quota_exceeded/Deployment/blocked",
	}
	sort.Strings(want)
	r, n := diagnoseRunner(t, testbed.Kubeconfig(t))
	var rep contracts.DiagnoseReport
	// Controllers (disruption, job, quota, scheduler) need a moment.
	testkit.CheckFor(t, 2*time.Minute, time.Second, func() error {
		// The completed Job must be Complete, not merely absent from the findings.
		if j, err := cs.BatchV1().Jobs(ns).Get(ctx, "report", metav1.GetOptions{}); err != nil || j.Status.Succeeded != 1 {
			return fmt.Errorf("job report not complete yet: %w", err)
		}
		rep, _ = diagnoseNS(t, r, n, "-n", ns)
		if got := keys(rep); !slices.Equal(got, want) {
			return fmt.Errorf("findings:\n got %q\nwant %q\n%s", got, want, report(rep))
		}
		return nil
	})
	text := report(rep)
	for _, s := range []string{`key "password" missing from Secret db-credentials`, "128Mi", "Insufficient cpu", "no-such-class"} {
		if !strings.Contains(text, s) {
			t.Errorf("report lacks %q:\n%s", s, text)
		}
	}
	// The whole cluster (-A) holds this namespace's findings, and more.
	all, _ := diagnoseNS(t, r, n, "-A")
	if !all.AllNamespaces {
		t.Errorf("-A report does not say all namespaces")
	}
	for _, f := range rep.Findings {
		if !slices.ContainsFunc(all.Findings, func(g contracts.Finding) bool { return g.ID == f.ID }) {
			t.Errorf("-A misses %s", f.ID)
		}
	}
}

type diagnoseCluster struct {
	cs     kubernetes.Interface
	ns     string
	suffix string
}

func setupDiagnoseNS(t *testing.T) diagnoseCluster {
	t.Helper()
	cfg := restConfig(t, testbed.Kubeconfig(t))
	c := diagnoseCluster{cs: kubernetes.NewForConfigOrDie(cfg), suffix: randomSuffix(t)}
	c.ns = "diagnose-" + c.suffix
	ctx := context.Background()
	if _, err := c.cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: c.ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create namespace: %v", err)
	}
	t.Cleanup(func() { _ = c.cs.CoreV1().Namespaces().Delete(context.Background(), c.ns, metav1.DeleteOptions{}) })
	testkit.CheckFor(t, 30*time.Second, 100*time.Millisecond, func() error {
		_, err := c.cs.CoreV1().ServiceAccounts(c.ns).Get(ctx, "default", metav1.GetOptions{})
		return err
	})
	return c
}
