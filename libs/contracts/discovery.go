package contracts

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// Discovery: each executor tells the gateway which resource types its
// cluster serves (POST /v1/executor/discovery, body ExecutorDiscovery) on
// connect and whenever that changes. The gateway keeps the latest summary
// per cluster in the store; the dispatcher resolves the types of commands
// from namespace-scoped callers through it, so that a caller limited to
// some namespaces reaches only namespaced kinds, whatever the kind is.
const (
	// MaxDiscoveryBodyBytes is the largest POST /v1/executor/discovery
	// body the gateway reads.
	MaxDiscoveryBodyBytes = 768 << 10
	// MaxDiscoveryResources is the most resources one summary may list.
	MaxDiscoveryResources = 3000
	// MaxDiscoveryNames is the most short names, categories or verbs one
	// resource may list.
	MaxDiscoveryNames = 32
	// maxDiscoveryName is the longest group, version, resource, kind or
	// name in a summary.
	maxDiscoveryName = 253
)

// DiscoveryResource is one resource type a cluster serves, in the
// preferred version of its group.
type DiscoveryResource struct {
	// Group is the API group; "" for the core group.
	Group string `json:"group,omitempty"`
	// Version is the group's preferred version serving the resource.
	Version string `json:"version"`
	// Resource is the lower-case plural name ("pods", "flowschemas").
	Resource string `json:"resource"`
	// Singular is the lower-case singular name, if the server gave one.
	Singular string `json:"singular,omitempty"`
	// Kind is the kind ("Pod").
	Kind string `json:"kind"`
	// ShortNames are kubectl's short names ("po").
	ShortNames []string `json:"short_names,omitempty"`
	// Categories are the categories the resource is in ("all").
	Categories []string `json:"categories,omitempty"`
	// Namespaced is true for namespaced resources.
	Namespaced bool `json:"namespaced"`
	// Verbs are the verbs the resource supports.
	Verbs []string `json:"verbs,omitempty"`
}

// ExecutorDiscovery is the body of POST /v1/executor/discovery and what
// the store keeps per cluster: the cluster's resource types and a hash of
// them (DiscoveryHash), so that a reader can tell whether its copy is
// current without reading the whole summary.
type ExecutorDiscovery struct {
	// Hash is DiscoveryHash(Resources); the gateway checks it.
	Hash string `json:"hash"`
	// Resources are the resource types, in discovery order.
	Resources []DiscoveryResource `json:"resources"`
}

// ExecutorDiscoveryResponse answers an ExecutorDiscovery.
type ExecutorDiscoveryResponse struct {
	// Status is always "stored".
	Status string `json:"status"`
	// Hash is the hash of the stored summary.
	Hash string `json:"hash"`
}

// DiscoveryHash is the hex SHA-256 of the JSON encoding of resources.
func DiscoveryHash(resources []DiscoveryResource) string {
	b, err := json.Marshal(resources)
	if err != nil {
		return ""
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// NewExecutorDiscovery returns the summary of resources with its hash.
func NewExecutorDiscovery(resources []DiscoveryResource) ExecutorDiscovery {
	return ExecutorDiscovery{Hash: DiscoveryHash(resources), Resources: resources}
}

// discoveryNameRE accepts Kubernetes resource, group, version and kind
// names, lower- or upper-case, and subresource-free.
var discoveryNameRE = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$`)

// Validate checks a summary's bounds, names and hash.
func (d ExecutorDiscovery) Validate() error {
	if len(d.Resources) > MaxDiscoveryResources {
		return Errorf(CodeBadRequest, "discovery lists %d resources; at most %d", len(d.Resources), MaxDiscoveryResources)
	}
	for i, r := range d.Resources {
		if err := r.validate(); err != nil {
			return Errorf(CodeBadRequest, "discovery resource %d: %v", i, err)
		}
	}
	if h := DiscoveryHash(d.Resources); d.Hash != h {
		return Errorf(CodeBadRequest, "discovery hash %q does not match its resources", truncate(d.Hash, 80))
	}
	return nil
}

func (r DiscoveryResource) validate() error {
	check := func(what, s string, required bool) error {
		if s == "" && !required {
			return nil
		}
		if len(s) > maxDiscoveryName || !discoveryNameRE.MatchString(s) {
			return fmt.Errorf("invalid %s %q", what, truncate(s, 80))
		}
		return nil
	}
	if err := check("group", r.Group, false); err != nil {
		return err
	}
	if err := check("version", r.Version, true); err != nil {
		return err
	}
	if err := check("resource", r.Resource, true); err != nil {
		return err
	}
	if r.Resource != strings.ToLower(r.Resource) {
		return fmt.Errorf("resource %q is not lower-case", truncate(r.Resource, 80))
	}
	if err := check("singular", r.Singular, false); err != nil {
		return err
	}
	if err := check("kind", r.Kind, true); err != nil {
		return err
	}
	for what, list := range map[string][]string{"short name": r.ShortNames, "category": r.Categories, "verb": r.Verbs} {
		if len(list) > MaxDiscoveryNames {
			return fmt.Errorf("%d %ss; at most %d", len(list), what, MaxDiscoveryNames)
		}
		if slices.Contains(list, "") {
			return fmt.Errorf("empty %s", what)
		}
		for _, s := range list {
			if err := check(what, s, true); err != nil {
				return err
			}
		}
	}
	return nil
}
