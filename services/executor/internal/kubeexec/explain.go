package kubeexec

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/kubectl/pkg/explain"
	explainv2 "k8s.io/kubectl/pkg/explain/v2"

	"kubently.io/libs/policy"
)

// explainPlaintext is the only output of explain supported here: kubectl's
// default, rendered from the server's OpenAPI v3 documents.
const explainPlaintext = "plaintext"

// explainCmd implements "kubectl explain TYPE[.FIELD...]" from the server's
// OpenAPI v3 schema, with kubectl's own renderer. The OpenAPI v2 fallback
// (-o plaintext-openapiv2) is not supported.
func (r *Runner) explainCmd(inv *invocation, cmd *policy.Command) error {
	var (
		recursive  bool
		apiVersion string
		output     string
		maxDepth   int
	)
	fs := newFlagSet(cmd)
	fs.StringP("namespace", "n", "", "ignored, as by kubectl")
	fs.BoolVar(&recursive, "recursive", false, "print the fields of fields")
	fs.StringVar(&apiVersion, "api-version", "", "group/version")
	fs.StringVarP(&output, "output", "o", explainPlaintext, "plaintext")
	fs.IntVar(&maxDepth, "max-depth", 0, "recursion depth")
	rest, err := applyFlags(fs, cmd)
	if err != nil {
		return err
	}
	switch {
	case len(rest) == 0:
		inv.failText(`You must specify the type of resource to explain. Use "kubectl api-resources" for a complete list of supported resources.`)
		return nil
	case len(rest) > 1:
		inv.failText("We accept only this format: explain RESOURCE")
		return nil
	case maxDepth > 0 && !recursive:
		return errors.New("--max-depth requires --recursive")
	case maxDepth < 0:
		return errors.New("--max-depth must be non-negative")
	case output != explainPlaintext:
		return fmt.Errorf("unsupported output format %q: only plaintext is available", output)
	}

	mapper := ctxMapper{ctx: inv.ctx, m: r.mapper}
	parse := explain.SplitAndParseResourceRequestWithMatchingPrefix
	if apiVersion != "" {
		parse = explain.SplitAndParseResourceRequest
	}
	gvr, fieldsPath, err := parse(rest[0], mapper)
	if err != nil && r.refreshDiscovery(inv.ctx) {
		gvr, fieldsPath, err = parse(rest[0], mapper)
	}
	if meta.IsNoMatchError(err) {
		// kubectl prints an unwrapped no-match error without "error: ".
		inv.failed = true
		inv.errorf("%s", strings.TrimPrefix(errorMessage(inv.ctx, err), "error: "))
		return nil
	}
	if err != nil {
		return err
	}
	if apiVersion != "" {
		gv, err := schema.ParseGroupVersion(apiVersion)
		if err != nil {
			return err
		}
		gvr.Group, gvr.Version = gv.Group, gv.Version
	}
	// The OpenAPI client makes its calls without a context; the describe
	// config attaches the command's.
	dc, err := discovery.NewDiscoveryClientForConfig(r.describeConfig(inv.ctx))
	if err != nil {
		return err
	}
	return explainv2.PrintModelDescription(fieldsPath, inv.out, dc.OpenAPIV3(), gvr, recursive, maxDepth, output)
}

// ctxMapper adapts the Runner's context-aware RESTMapper to
// meta.RESTMapper for kubectl's explain helpers, with the command's
// context.
type ctxMapper struct {
	ctx context.Context
	m   meta.RESTMapperWithContext
}

// KindFor implements meta.RESTMapper.
func (c ctxMapper) KindFor(resource schema.GroupVersionResource) (schema.GroupVersionKind, error) {
	return c.m.KindForWithContext(c.ctx, resource)
}

// KindsFor implements meta.RESTMapper.
func (c ctxMapper) KindsFor(resource schema.GroupVersionResource) ([]schema.GroupVersionKind, error) {
	return c.m.KindsForWithContext(c.ctx, resource)
}

// ResourceFor implements meta.RESTMapper.
func (c ctxMapper) ResourceFor(input schema.GroupVersionResource) (schema.GroupVersionResource, error) {
	return c.m.ResourceForWithContext(c.ctx, input)
}

// ResourcesFor implements meta.RESTMapper.
func (c ctxMapper) ResourcesFor(input schema.GroupVersionResource) ([]schema.GroupVersionResource, error) {
	return c.m.ResourcesForWithContext(c.ctx, input)
}

// RESTMapping implements meta.RESTMapper.
func (c ctxMapper) RESTMapping(gk schema.GroupKind, versions ...string) (*meta.RESTMapping, error) {
	return c.m.RESTMappingWithContext(c.ctx, gk, versions...)
}

// RESTMappings implements meta.RESTMapper.
func (c ctxMapper) RESTMappings(gk schema.GroupKind, versions ...string) ([]*meta.RESTMapping, error) {
	return c.m.RESTMappingsWithContext(c.ctx, gk, versions...)
}

// ResourceSingularizer implements meta.RESTMapper.
func (c ctxMapper) ResourceSingularizer(resource string) (string, error) {
	return c.m.ResourceSingularizerWithContext(c.ctx, resource)
}
