package kubeexec

import (
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

const (
	// resolvedTTL bounds how long a resolution is reused. Discovery
	// itself is cached until a reset; this only bounds how long the
	// Runner's own memo can lag behind a reset it did not make.
	resolvedTTL = 10 * time.Second

	// maxResolved bounds the memo: resource spellings come from callers.
	maxResolved = 1024
)

// categoryMember is one resource of a category, before the policy and a
// namespace scope filter it.
type categoryMember struct {
	gr         schema.GroupResource
	namespaced bool
}

// resolved memoizes what discovery answered for resource arguments: every
// command names a type, and asking the discovery cache and the RESTMapper
// again walks every group's resource list each time. Only answers are
// kept, never errors, so an unknown type still refreshes discovery. The
// memo is dropped whenever the Runner resets discovery, and entries
// expire after resolvedTTL. Policy checks are not memoized: they run on
// every command against the profile in force.
type resolved struct {
	mu         sync.Mutex
	filled     time.Time
	mappings   map[string]*meta.RESTMapping
	categories map[string][]categoryMember // nil slice: not a category
}

// valid drops the memo when it is older than resolvedTTL or full. The
// caller holds mu.
func (c *resolved) valid(now time.Time) {
	if now.Sub(c.filled) > resolvedTTL || len(c.mappings)+len(c.categories) > maxResolved {
		c.mappings, c.categories = nil, nil
	}
	if c.mappings == nil {
		c.mappings = map[string]*meta.RESTMapping{}
		c.categories = map[string][]categoryMember{}
		c.filled = now
	}
}

// mapping returns the memoized mapping of arg.
func (c *resolved) mapping(arg string) (*meta.RESTMapping, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.valid(time.Now())
	m, ok := c.mappings[arg]
	return m, ok
}

// putMapping memoizes the mapping of arg.
func (c *resolved) putMapping(arg string, m *meta.RESTMapping) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.valid(time.Now())
	c.mappings[arg] = m
}

// category returns the memoized members of category name; ok is false
// when name was not looked up yet.
func (c *resolved) category(name string) ([]categoryMember, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.valid(time.Now())
	ms, ok := c.categories[name]
	return ms, ok
}

// putCategory memoizes the members of category name (nil: not one).
func (c *resolved) putCategory(name string, ms []categoryMember) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.valid(time.Now())
	c.categories[name] = ms
}

// drop forgets everything, after discovery was reset.
func (c *resolved) drop() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.mappings, c.categories = nil, nil
}
