package deploy

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/intstr"

	"kubently.io/libs/testkit"
)

// buildBinaries compiles the four services and nats-server from this tree.
func buildBinaries(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	pkgs := testkit.StackCommands()
	if err := testkit.Build(dir, repoRoot, pkgs...); err != nil {
		t.Fatal(err)
	}
	return dir
}

// startProc starts bin with exactly env, kept until the test ends.
func startProc(t testing.TB, name, bin string, args, env []string) *testkit.Proc {
	t.Helper()
	return testkit.StartProc(t, testkit.ProcConfig{Name: name, Path: bin, Args: args, Env: env, StopGrace: 20 * time.Second, TailLines: 30})
}

// startNATS starts a nats-server with JetStream on a free port.
func startNATS(t testing.TB, binDir string) string {
	t.Helper()
	port := testkit.FreePort(t)
	p := startProc(t, "nats-server", filepath.Join(binDir, "nats-server"),
		[]string{"-a", "127.0.0.1", "-p", strconv.Itoa(port), "-js", "-sd", t.TempDir()}, nil)
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	testkit.CheckFor(t, 30*time.Second, 100*time.Millisecond, func() error {
		if p.Exited() {
			t.Fatalf("nats-server exited:\n%s", testkit.Tail(p.Out.String(), 20))
		}
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			_ = c.Close()
		}
		return err
	})
	return addr
}

// localPod is a rendered Deployment's container run as a local process:
// what a kubelet would run, with each container port mapped to a free
// local port and each volume to a temporary directory.
type localPod struct {
	name      string
	container corev1.Container
	proc      *testkit.Proc
	// ports maps container ports to local ports.
	ports map[int32]int
	env   map[string]string
}

// podOptions are what the test supplies in place of the cluster.
type podOptions struct {
	// hosts maps in-cluster host[:port] strings to local addresses; every
	// env value is rewritten with them.
	hosts map[string]string
	// extraEnv stands in for what Kubernetes itself gives a pod (the
	// ServiceAccount credentials of the executor).
	extraEnv []string
}

var listenRE = regexp.MustCompile(`^(0\.0\.0\.0)?:([0-9]+)$`)

// startPod runs the Deployment's container from binDir with exactly the
// command, args and environment the manifest gives (ConfigMap and Secret
// references resolved from objs, addresses mapped as described above).
func startPod(t testing.TB, binDir string, d *appsv1.Deployment, objs []*unstructured.Unstructured, opts podOptions) *localPod {
	t.Helper()
	ps := d.Spec.Template.Spec
	c := ps.Containers[0]
	service := imageService(c.Image)
	cmdline := c.Command
	if len(cmdline) == 0 {
		cmdline = dockerEntrypoint(t, service)
	}
	bin := filepath.Join(binDir, filepath.Base(cmdline[0]))
	args := append(append([]string(nil), cmdline[1:]...), c.Args...)

	pod := &localPod{name: d.Name, container: c, ports: map[int32]int{}}
	for _, p := range c.Ports {
		pod.ports[p.ContainerPort] = testkit.FreePort(t)
	}
	env := resolvedEnv(t, c, objs, nil)
	// Volumes: each mount becomes a temporary directory holding the
	// volume's files; paths in env values follow it.
	mounts := map[string]string{}
	for _, m := range c.VolumeMounts {
		dir := t.TempDir()
		mounts[m.MountPath] = dir
		for _, v := range ps.Volumes {
			if v.Name != m.Name {
				continue
			}
			var files map[string]string
			switch {
			case v.Secret != nil:
				files = secretData(t, objs, v.Secret.SecretName)
			case v.ConfigMap != nil:
				files = configMapData(t, objs, v.ConfigMap.Name)
			case v.EmptyDir != nil:
			default:
				t.Fatalf("%s: volume %s: unsupported source", d.Name, v.Name)
			}
			for k, body := range files {
				if err := os.WriteFile(filepath.Join(dir, k), []byte(body), 0o600); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	list := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}
	for k, v := range env {
		if m := listenRE.FindStringSubmatch(v); m != nil {
			cp, _ := strconv.Atoi(m[2])
			if lp, ok := pod.ports[int32(cp)]; ok {
				v = fmt.Sprintf("127.0.0.1:%d", lp)
			}
		}
		for from, to := range opts.hosts {
			v = strings.ReplaceAll(v, from, to)
		}
		// One rewrite per value, by the longest mount path it is under: a
		// rewritten path lies under the temporary directory, which another
		// mount (an emptyDir at /tmp) must not rewrite again.
		best := ""
		for mp := range mounts {
			if strings.HasPrefix(v, mp+"/") && len(mp) > len(best) {
				best = mp
			}
		}
		if best != "" {
			v = mounts[best] + strings.TrimPrefix(v, best)
		}
		env[k] = v
		list = append(list, k+"="+v)
	}
	pod.env = env
	pod.proc = startProc(t, d.Name, bin, args, append(list, opts.extraEnv...))
	return pod
}

// localPort maps a probe's port (a number or a container port name) to
// the local port.
func (p *localPod) localPort(t testing.TB, port intstr.IntOrString) int {
	t.Helper()
	cp := int32(port.IntValue())
	if port.Type == intstr.String {
		cp = 0
		for _, cport := range p.container.Ports {
			if cport.Name == port.StrVal {
				cp = cport.ContainerPort
			}
		}
	}
	lp, ok := p.ports[cp]
	if !ok {
		t.Fatalf("%s: probe port %s is not a container port", p.name, port.String())
	}
	return lp
}

// probe runs one HTTP probe of the manifest against the process.
func (p *localPod) probe(t testing.TB, pr *corev1.Probe) error {
	t.Helper()
	if p.proc.Exited() {
		t.Fatalf("%s exited:\n%s", p.name, testkit.Tail(p.proc.Out.String(), 30))
	}
	u := fmt.Sprintf("http://127.0.0.1:%d%s", p.localPort(t, pr.HTTPGet.Port), pr.HTTPGet.Path)
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Get(u)
	if err != nil {
		return err
	}
	_ = resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode >= 400 {
		return fmt.Errorf("%s: GET %s = %d", p.name, pr.HTTPGet.Path, resp.StatusCode)
	}
	return nil
}

// waitReady waits until the startup, liveness and readiness probes of
// the manifest succeed, as a kubelet would require before routing
// traffic to the pod.
func (p *localPod) waitReady(t testing.TB) {
	t.Helper()
	for _, pr := range []*corev1.Probe{p.container.StartupProbe, p.container.LivenessProbe, p.container.ReadinessProbe} {
		testkit.CheckFor(t, 90*time.Second, 200*time.Millisecond, func() error { return p.probe(t, pr) })
	}
}

// dockerEntrypoint returns the ENTRYPOINT of the Dockerfile target that
// builds service's image.
func dockerEntrypoint(t testing.TB, service string) []string {
	t.Helper()
	stage := dockerStage(t, filepath.Join(repoRoot, "deploy", "Dockerfile"), service)
	m := regexp.MustCompile(`(?m)^ENTRYPOINT\s+\[(.*)\]\s*$`).FindStringSubmatch(stage)
	if m == nil {
		t.Fatalf("deploy/Dockerfile target %s has no ENTRYPOINT", service)
	}
	var out []string
	for _, part := range strings.Split(m[1], ",") {
		out = append(out, strings.Trim(strings.TrimSpace(part), `"`))
	}
	return out
}
