// Package authz decides who a gateway caller is and what it may do:
// identities with a role and scopes, API keys held as SHA-256 hashes (from
// a hot-reloaded key file or Secret, and from KUBENTLY_API_KEYS), OIDC
// bearer tokens, per-identity and per-cluster rate limits, and session
// ownership.
//
// # Roles
//
// The role matrix (RoleAllows; keep in step with roleActions):
//
//	action               admin  operator  viewer
//	clusters:read          ✓       ✓        ✓     list clusters (in scope)
//	commands:execute       ✓       ✓        -     one-shot commands (in scope)
//	sessions:write         ✓       ✓        -     create/use/end own sessions (in scope)
//	audit:read:own         ✓       ✓        ✓     own audit records
//	audit:read:all         ✓       -        -     everyone's audit records
//	tokens:admin           ✓       -        -     executor token administration
//	keys:admin             ✓       -        -     API key administration
//
// Admins are unscoped: they may act on every cluster and namespace, and
// use any session (CanUseSession). Operators and viewers act only where a
// Scope allows: Clusters are path.Match globs over cluster ids ("*" for
// all); Namespaces, if set, limit the clusters matched to those
// namespaces, which denies -A (ReasonAllNamespacesOutOfScope) and
// cluster-scoped requests. Denials are *Denial errors with a stable
// Reason.
//
// # Key file
//
//	apiVersion: kubently.io/v1
//	kind: APIKeys
//	keys:
//	  - name: alice                 # an id: [a-z0-9-], at most 63
//	    role: operator              # admin | operator | viewer
//	    sha256: "<64 hex digits>"   # printf %s "$KEY" | sha256sum; preferred
//	    # key: "<plaintext>"        # dev only: hashed on load, never kept
//	    scopes:                     # required unless admin; forbidden for admin
//	      - clusters: ["prod-*"]
//	        namespaces: ["payments"]  # omit for all namespaces
//
// Decoding is strict (unknown fields, duplicate map keys, duplicate names
// and duplicate keys are errors). Quote hashes: YAML reads some all-digit
// strings as numbers.
//
// # Usage
//
//	env, err := authz.ParseEnvKeys(cfg.APIKeys) // KUBENTLY_API_KEYS, split by config.SplitList
//	src, err := authz.NewFileSource(authz.FileSourceConfig{Path: "/etc/kubently/keys.yaml", Base: env,
//		OnReload: func(err error) { /* log, count */ }})
//	go src.Run(ctx)
//	id, ok := src.Lookup(req.Header.Get(contracts.HeaderAPIKey))
//	if err := id.Authorize(authz.ActionExecute, cluster, ns, allNamespaces); err != nil { /* 403 */ }
//	if ok, retry, which := limiter.Allow(id.Principal(), cluster); !ok { /* 429, Retry-After */ }
//
// # Concurrency
//
// Identity, Scope and Keyring are immutable values, safe to share.
// FileSource, OIDCVerifier and Limiter are safe for concurrent use.
// FileSource.Lookup is lock-free (an atomic pointer swap on reload).
package authz
