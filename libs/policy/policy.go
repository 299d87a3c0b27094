// Package policy decides whether a kubectl-style command may run. It parses
// argv the way kubectl does (verb, resource arguments, short and long flags,
// `--flag=value`, `-ojson`) and checks it against an allow-list: never by
// substring. The dispatcher calls it to reject early; the executor calls it
// again before it touches the cluster.
//
// Verbs: get, describe, logs, events, top pod|node, rollout history|status,
// api-resources, api-versions, version, cluster-info, explain, auth
// can-i and Kubently's own diagnose (findings, not objects). Each has a flag allow-list with typed values (verbFlags);
// credential, target, watch and file flags are always denied; -o accepts
// jsonpath= and custom-columns= templates (bounded) but never go-template or
// a *-file form; Secrets are restricted in every spelling the parser can see.
//
// # Usage
//
//	d := policy.Check(argv)
//	if !d.Allowed { return 403 with d.Reason and d.Message }
//
// # Concurrency
//
// Check is a pure function of its input and safe for concurrent use.
package policy

import (
	"context"
	"fmt"
)

// Reason is a machine-readable reason code for a decision.
type Reason string

// Reason codes.
const (
	ReasonAllowed          Reason = "allowed"
	ReasonEmpty            Reason = "empty_command"
	ReasonVerbNotAllowed   Reason = "verb_not_allowed"
	ReasonFlagNotAllowed   Reason = "flag_not_allowed"
	ReasonCredentialFlag   Reason = "credential_flag"
	ReasonUnbounded        Reason = "unbounded_command"
	ReasonFileInput        Reason = "file_input"
	ReasonRestricted       Reason = "restricted_resource"
	ReasonBadFlagValue     Reason = "bad_flag_value"
	ReasonMissingArgument  Reason = "missing_argument"
	ReasonTooManyArguments Reason = "too_many_arguments"
	ReasonNamespace        Reason = "restricted_namespace"
	ReasonUnavailable      Reason = "policy_unavailable"
	ReasonShellSyntax      Reason = "shell_syntax"
	// ReasonResourceArgument: a resource argument kubectl (and the
	// executor) cannot parse, such as "pods/x,secret/y".
	ReasonResourceArgument Reason = "bad_resource_argument"
)

// Decision is the outcome of a policy check.
type Decision struct {
	// Allowed is true only when the command may run.
	Allowed bool
	// Reason is the machine-readable reason code.
	Reason Reason
	// Message explains the decision to a human.
	Message string
	// Verb is the parsed verb ("" when argv was empty).
	Verb string
	// Profile is the profile that decided; "" when parsing failed first.
	Profile string
}

func deny(verb string, r Reason, format string, args ...any) Decision {
	return Decision{Reason: r, Verb: verb, Message: fmt.Sprintf(format, args...)}
}

// defaultNamespace is the namespace a command without -n reads.
const defaultNamespace = "default"

// Check decides whether argv may run with the built-in readOnly profile,
// resolving types with StaticResolver. It is Default().Check for callers
// without a policy file.
func Check(argv []string) Decision {
	return Default().Check(context.Background(), "", argv, StaticResolver)
}

// Check decides whether argv may run on cluster. res resolves resource
// types (nil means StaticResolver); a type res cannot resolve is judged
// by its spelling, so a resolver failure never allows more.
func (p *Policy) Check(ctx context.Context, cluster string, argv []string, res Resolver) Decision {
	if p.unavailable != "" {
		return deny(verbOf(argv), ReasonUnavailable, "no command policy is loaded, so every command is denied: %s", p.unavailable)
	}
	cmd, d, ok := Parse(argv)
	if !ok {
		d.Profile = p.Profile(cluster).name
		return d
	}
	return p.CheckCommand(ctx, cluster, cmd, res)
}

// CheckCommand decides whether cmd, the result of Parse, may run on
// cluster: the profile's verbs, restricted resources and namespaces. It is
// Check for a caller that parsed argv already, so that one command is
// parsed once. A nil cmd is denied as empty.
func (p *Policy) CheckCommand(ctx context.Context, cluster string, cmd *Command, res Resolver) Decision {
	if p.unavailable != "" {
		verb := ""
		if cmd != nil {
			verb = cmd.Verb
		}
		return deny(verb, ReasonUnavailable, "no command policy is loaded, so every command is denied: %s", p.unavailable)
	}
	prof := p.Profile(cluster)
	if cmd == nil {
		d := deny("", ReasonEmpty, "empty command: want a verb such as get, describe, logs or events")
		d.Profile = prof.name
		return d
	}
	d := p.decide(ctx, prof, cmd, res)
	d.Profile = prof.name
	return d
}

func (p *Policy) decide(ctx context.Context, prof *Profile, cmd *Command, res Resolver) Decision {
	if prof.verbs != nil && !prof.verbs[cmd.Verb] {
		return deny(cmd.Verb, ReasonVerbNotAllowed, "verb %q is not allowed by profile %s; allowed verbs: %s", cmd.Verb, prof.name, prof.verbsOf())
	}
	if res == nil {
		res = StaticResolver
	}
	namespaced := false
	for _, t := range cmd.Types {
		rs, err := res.ResolveType(ctx, t.Spelling)
		if err != nil || len(rs) == 0 {
			rs, _ = staticResolve(ctx, t.Spelling)
		}
		for _, r := range rs {
			if e, bad := prof.restricted.match(r); bad {
				return deny(cmd.Verb, ReasonRestricted, "resource %q (%s) is restricted by profile %s", truncate(t.Spelling), e, prof.name)
			}
			namespaced = namespaced || r.Namespaced
		}
	}
	if prof.namespaces != nil && namespaced {
		if cmd.AllNamespaces {
			return deny(cmd.Verb, ReasonNamespace, "--all-namespaces is not allowed by profile %s, which limits namespaces; name one with -n", prof.name)
		}
		ns := cmd.Namespace
		if ns == "" {
			ns = defaultNamespace
		}
		if !prof.namespaceAllowed(ns) {
			return deny(cmd.Verb, ReasonNamespace, "namespace %q is not allowed by profile %s", ns, prof.name)
		}
	}
	return Decision{Allowed: true, Reason: ReasonAllowed, Verb: cmd.Verb, Message: "allowed"}
}

// verbOf returns argv[0] bounded for messages, or "".
func verbOf(argv []string) string {
	if len(argv) == 0 {
		return ""
	}
	return flagName(argv[0])
}
