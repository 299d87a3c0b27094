package kubeexec

import (
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"runtime/debug"
	"sort"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilnet "k8s.io/apimachinery/pkg/util/net"
	"k8s.io/apimachinery/pkg/util/sets"
	apimachineryversion "k8s.io/apimachinery/pkg/version"
	"k8s.io/cli-runtime/pkg/printers"
	"k8s.io/client-go/discovery"
	clientversion "k8s.io/client-go/pkg/version"
	"k8s.io/kubectl/pkg/cmd/apiresources"
	"sigs.k8s.io/yaml"

	"kubently.io/libs/policy"
)

// freshDiscovery returns an uncached discovery client: api-resources,
// api-versions and version always ask the server, as kubectl does, without
// invalidating the cache the other commands share.
func (r *Runner) freshDiscovery() (*discovery.DiscoveryClient, error) {
	if r.restConfig == nil || r.httpClient == nil {
		return nil, errors.New("discovery is not configured")
	}
	return discovery.NewDiscoveryClientForConfigAndClient(r.restConfig, r.httpClient)
}

// apiResources implements "kubectl api-resources".
func (r *Runner) apiResources(inv *invocation, cmd *policy.Command) error {
	var (
		namespaced, noHeaders    bool
		apiGroup, output, sortBy string
		verbs, categories        []string
	)
	fs := newFlagSet(cmd)
	fs.StringP("namespace", "n", "", "ignored, as by kubectl")
	fs.BoolVar(&namespaced, "namespaced", true, "namespaced or not")
	fs.StringVar(&apiGroup, "api-group", "", "API group")
	fs.StringVarP(&output, "output", "o", "", "wide or name")
	fs.StringSliceVar(&verbs, "verbs", nil, "verbs")
	fs.StringSliceVar(&categories, "categories", nil, "categories")
	fs.BoolVar(&noHeaders, "no-headers", false, "omit headers")
	fs.StringVar(&sortBy, "sort-by", "", "name or kind")
	rest, err := applyFlags(fs, cmd)
	if err != nil {
		return err
	}
	if len(rest) != 0 {
		return fmt.Errorf("unexpected arguments: %v", rest)
	}
	switch output {
	case "", "wide", "name", "json", "yaml":
	default:
		return fmt.Errorf("--output %v is not available", output)
	}
	if sortBy != "" && sortBy != "name" && sortBy != "kind" {
		return fmt.Errorf("--sort-by accepts only name or kind")
	}
	groupChanged := fs.Changed("api-group")
	nsChanged := fs.Changed("namespaced")

	dc, err := r.freshDiscovery()
	if err != nil {
		return err
	}
	var errs []error
	lists, err := dc.ServerPreferredResourcesWithContext(inv.ctx)
	if err != nil {
		errs = append(errs, err)
	}
	flat := &metav1.APIResourceList{TypeMeta: metav1.TypeMeta{Kind: "APIResourceList", APIVersion: "v1"}}
	found := false
	for _, list := range lists {
		if len(list.APIResources) == 0 {
			continue
		}
		gv, err := schema.ParseGroupVersion(list.GroupVersion)
		if err != nil {
			continue
		}
		found = true
		for _, res := range list.APIResources {
			switch {
			case len(res.Verbs) == 0,
				groupChanged && apiGroup != gv.Group,
				nsChanged && namespaced != res.Namespaced,
				len(verbs) > 0 && !sets.New(res.Verbs...).HasAll(verbs...),
				len(categories) > 0 && !sets.New(res.Categories...).HasAll(categories...):
				continue
			}
			res.Group, res.Version = gv.Group, gv.Version
			flat.APIResources = append(flat.APIResources, res)
		}
	}
	if !found {
		inv.failAll(errs)
		return nil
	}
	sort.Stable(sortableResources{flat.APIResources, sortBy})

	pf := apiresources.NewPrintFlags()
	pf.OutputFormat, pf.NoHeaders = &output, &noHeaders
	pf.HumanReadableFlags.NoHeaders = noHeaders
	printer, err := pf.ToPrinter()
	if err != nil {
		return err
	}
	w := printers.GetNewTabWriter(inv.out)
	if !noHeaders && (output == "" || output == "wide") {
		cols := []string{"NAME", "SHORTNAMES", "APIVERSION", "NAMESPACED", "KIND"}
		if output == "wide" {
			cols = append(cols, "VERBS", "CATEGORIES")
		}
		fmt.Fprintln(w, strings.Join(cols, "\t"))
	}
	if err := printer.PrintObj(flat, w); err != nil {
		errs = append(errs, err)
	}
	_ = w.Flush()
	inv.setStructured(flat)
	inv.failAll(errs)
	return nil
}

// sortableResources sorts API resources like kubectl api-resources: by
// group (or name or kind with --sort-by), then by name.
type sortableResources struct {
	resources []metav1.APIResource
	sortBy    string
}

// Len implements sort.Interface.
func (s sortableResources) Len() int { return len(s.resources) }

// Swap implements sort.Interface.
func (s sortableResources) Swap(i, j int) {
	s.resources[i], s.resources[j] = s.resources[j], s.resources[i]
}

// Less implements sort.Interface.
func (s sortableResources) Less(i, j int) bool {
	a, b := s.resources[i].Group, s.resources[j].Group
	switch s.sortBy {
	case "name":
		a, b = s.resources[i].Name, s.resources[j].Name
	case "kind":
		a, b = s.resources[i].Kind, s.resources[j].Kind
	}
	if c := strings.Compare(a, b); c != 0 {
		return c < 0
	}
	return s.resources[i].Name < s.resources[j].Name
}

// apiVersions implements "kubectl api-versions".
func (r *Runner) apiVersions(inv *invocation, cmd *policy.Command) error {
	fs := newFlagSet(cmd)
	fs.StringP("namespace", "n", "", "ignored, as by kubectl")
	rest, err := applyFlags(fs, cmd)
	if err != nil {
		return err
	}
	if len(rest) != 0 {
		return fmt.Errorf("unexpected arguments: %v", rest)
	}
	dc, err := r.freshDiscovery()
	if err != nil {
		return err
	}
	groups, err := dc.ServerGroupsWithContext(inv.ctx)
	if err != nil {
		return fmt.Errorf("couldn't get available api versions from server: %w", err)
	}
	versions := metav1.ExtractGroupVersions(groups)
	sort.Strings(versions)
	for _, v := range versions {
		fmt.Fprintln(inv.out, v)
	}
	inv.setStructured(versions)
	return nil
}

// versionInfo is the document of kubectl version -o json|yaml.
type versionInfo struct {
	ClientVersion *apimachineryversion.Info `json:"clientVersion,omitempty"`
	ServerVersion *apimachineryversion.Info `json:"serverVersion,omitempty"`
}

// version implements "kubectl version". The client version is the
// executor's: the Kubernetes release matching its client-go (client-go
// v0.37.2 is Kubernetes v1.37.2), with the executor's Go version and
// platform. Unlike kubectl there is no Kustomize line: the executor has no
// kustomize.
func (r *Runner) version(inv *invocation, cmd *policy.Command) error {
	var (
		output     string
		clientOnly bool
	)
	fs := newFlagSet(cmd)
	fs.StringP("namespace", "n", "", "ignored, as by kubectl")
	fs.StringVarP(&output, "output", "o", "", "json or yaml")
	fs.BoolVar(&clientOnly, "client", false, "client version only")
	rest, err := applyFlags(fs, cmd)
	if err != nil {
		return err
	}
	if len(rest) != 0 {
		return fmt.Errorf("unexpected arguments: %v", rest)
	}
	if output != "" && output != "json" && output != "yaml" {
		return errors.New(`--output must be 'yaml' or 'json'`)
	}
	info := versionInfo{ClientVersion: clientVersion()}
	var serverErr error
	if !clientOnly {
		dc, err := r.freshDiscovery()
		if err != nil {
			return err
		}
		info.ServerVersion, serverErr = dc.ServerVersionWithContext(inv.ctx)
	}
	switch output {
	case "":
		fmt.Fprintf(inv.out, "Client Version: %s\n", info.ClientVersion.GitVersion)
		if info.ServerVersion != nil {
			fmt.Fprintf(inv.out, "Server Version: %s\n", info.ServerVersion.GitVersion)
		}
	case "yaml":
		b, err := yaml.Marshal(&info)
		if err != nil {
			return err
		}
		fmt.Fprintln(inv.out, string(b))
	case "json":
		b, err := json.MarshalIndent(&info, "", "  ")
		if err != nil {
			return err
		}
		fmt.Fprintln(inv.out, string(b))
	}
	inv.setStructured(info)
	return serverErr
}

// clientVersion describes the executor as a Kubernetes client.
func clientVersion() *apimachineryversion.Info {
	v := clientversion.Get()
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, dep := range bi.Deps {
			if dep.Path != "k8s.io/client-go" {
				continue
			}
			if dep.Replace != nil {
				dep = dep.Replace
			}
			// client-go v0.X.Y ships with Kubernetes v1.X.Y.
			if rest, ok := strings.CutPrefix(dep.Version, "v0."); ok {
				v.GitVersion = "v1." + rest
				parts := strings.SplitN(rest, ".", 2)
				v.Major, v.Minor = "1", parts[0]
				if _, err := strconv.Atoi(v.Minor); err != nil {
					v.Minor = ""
				}
			}
		}
	}
	v.GoVersion = runtime.Version()
	v.Compiler = runtime.Compiler
	v.Platform = runtime.GOOS + "/" + runtime.GOARCH
	return &v
}

// clusterInfo implements "kubectl cluster-info" (not "dump"): the API
// server's address and the cluster services of kube-system (label
// kubernetes.io/cluster-service=true) with their proxy URLs.
func (r *Runner) clusterInfo(inv *invocation, cmd *policy.Command) error {
	var namespace string
	fs := newFlagSet(cmd)
	fs.StringVarP(&namespace, "namespace", "n", "", "namespace")
	rest, err := applyFlags(fs, cmd)
	if err != nil {
		return err
	}
	if len(rest) != 0 {
		if rest[0] == "dump" {
			return errors.New("cluster-info dump is not supported: it reads every object of the cluster")
		}
		return fmt.Errorf("unknown command %q for \"kubectl cluster-info\"", rest[0])
	}
	if namespace == "" {
		namespace = metav1.NamespaceSystem
	}
	host := ""
	if r.restConfig != nil {
		host = r.restConfig.Host
	}
	services, err := r.core.CoreV1().Services(namespace).List(inv.ctx, metav1.ListOptions{LabelSelector: "kubernetes.io/cluster-service=true"})
	if err == nil {
		fmt.Fprintf(inv.out, "Kubernetes control plane is running at %s\n", host)
		for _, svc := range services.Items {
			fmt.Fprintf(inv.out, "%s is running at %s\n", serviceName(svc), serviceLink(host, svc))
		}
	}
	fmt.Fprint(inv.out, "\nTo further debug and diagnose cluster problems, use 'kubectl cluster-info dump'.\n")
	return err
}

// serviceName is the name cluster-info shows for a service.
func serviceName(svc corev1.Service) string {
	if n := svc.Labels["kubernetes.io/name"]; n != "" {
		return n
	}
	return svc.Name
}

// serviceLink is the address cluster-info shows for a service: its load
// balancer, or its API server proxy URL.
func serviceLink(host string, svc corev1.Service) string {
	if len(svc.Status.LoadBalancer.Ingress) > 0 {
		ingress := svc.Status.LoadBalancer.Ingress[0]
		ip := ingress.IP
		if ip == "" {
			ip = ingress.Hostname
		}
		var link string
		for _, port := range svc.Spec.Ports {
			link += "http://" + ip + ":" + strconv.Itoa(int(port.Port)) + " "
		}
		return link
	}
	name := svc.Name
	if len(svc.Spec.Ports) > 0 {
		port := svc.Spec.Ports[0]
		scheme := ""
		if port.Name == "https" || port.Port == 443 {
			scheme = "https"
		}
		name = utilnet.JoinSchemeNamePort(scheme, svc.Name, port.Name)
	}
	return host + "/api/v1/namespaces/" + svc.Namespace + "/services/" + name + "/proxy"
}
