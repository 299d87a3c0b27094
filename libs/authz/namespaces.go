package authz

// NamespacesOn returns the namespaces the identity is limited to on
// cluster, merged over every scope matching it, and limited=true; or
// limited=false when the identity may read the whole cluster (an admin, or
// a matching scope without a namespace list). An identity with no scope
// matching cluster is limited to no namespace (limited=true, nil).
func (id Identity) NamespacesOn(cluster string) (namespaces []string, limited bool) {
	if id.Role == RoleAdmin {
		return nil, false
	}
	var allowed []string
	for _, s := range id.Scopes {
		if !s.matchesCluster(cluster) {
			continue
		}
		if len(s.Namespaces) == 0 {
			return nil, false
		}
		allowed = append(allowed, s.Namespaces...)
	}
	return uniqSorted(allowed), true
}
