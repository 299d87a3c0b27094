package mcptools

import (
	"kubently.io/libs/authz"
	"kubently.io/libs/contracts"
	"kubently.io/libs/policy"
)

// allowedVerbs is the hint for a command the policy does not know.
const allowedVerbs = "Kubently is read-only: allowed are get, describe, logs, events, top pod|node, rollout history|status, api-resources, api-versions, version, cluster-info, explain and auth can-i, with read-only flags (see docs/policy.md); use the dedicated tools (resources_list, pods_log, ...) where one fits."

// hints by reason code (policy and authorization reasons) and then by
// error code or command status.
var hints = map[string]string{
	string(policy.ReasonVerbNotAllowed):         allowedVerbs,
	string(policy.ReasonEmpty):                  allowedVerbs,
	string(policy.ReasonFlagNotAllowed):         "That flag is not allowed for this verb; drop it (docs/policy.md lists each verb's flags).",
	string(policy.ReasonCredentialFlag):         "Credential and connection flags (--token, --kubeconfig, --server, --as, ...) are never allowed: the executor uses its own identity.",
	string(policy.ReasonUnbounded):              "A command must end: -f/--follow and -w/--watch are refused; read logs with tail/since and grep instead.",
	string(policy.ReasonFileInput):              "Commands cannot read files (-f, -k); name the resource instead.",
	string(policy.ReasonRestricted):             "Secret values (and other restricted data) are never returned. List Secrets by name with resources_list output=name, or describe one (keys and sizes, no values).",
	string(policy.ReasonBadFlagValue):           "A flag value is out of range or malformed; fix the argument.",
	string(policy.ReasonMissingArgument):        "An argument is missing (e.g. the resource kind or name).",
	string(policy.ReasonTooManyArguments):       "Too many arguments for this verb.",
	string(policy.ReasonNamespace):              "This namespace is not readable under the cluster's policy profile; pick another namespace.",
	string(policy.ReasonShellSyntax):            "Give the command as an argv list, without shell syntax (pipes, redirections, $()).",
	string(authz.ReasonClusterOutOfScope):       "Your key does not reach this cluster; clusters_list shows the clusters it may read.",
	string(authz.ReasonNamespaceOutOfScope):     "Your key is limited to some namespaces; name one of them (cluster-scoped kinds such as nodes are out of scope too).",
	string(authz.ReasonAllNamespacesOutOfScope): "Your key is limited to some namespaces; name one instead of all namespaces.",
	string(authz.ReasonRoleForbidden):           "Your role does not allow this.",
	string(contracts.CodeUnknownCluster):        "No such cluster; clusters_list shows the registered clusters.",
	string(contracts.CodeExecutorUnavailable):   "The cluster's executor is not connected now (clusters_list shows presence); try again later or another cluster.",
	string(contracts.CodeRateLimited):           "Rate limited: wait a few seconds and retry, and prefer narrower queries over many calls.",
	string(contracts.CodeTimeout):               "The command timed out: narrow it (namespace, label_selector, tail, since) or raise timeout_seconds (at most 120).",
	string(contracts.StatusFailure):             "The command ran and failed as kubectl would (e.g. NotFound): check the kind, name and namespace with resources_list.",
	string(contracts.StatusError):               "The executor could not run the command; retry, or check the cluster with clusters_list.",
	string(contracts.CodeUnavailable):           "Kubently could not be reached or is unavailable; retry shortly.",
	string(contracts.CodeInvalidCommand):        "Fix the arguments; give the command as an argv list such as [\"get\",\"pods\",\"-n\",\"demo\"].",
	string(contracts.CodeInvalidTimeout):        "timeout_seconds must be between 1 and 120.",
	string(contracts.CodeBadRequest):            "Fix the arguments as the message says.",
	string(contracts.CodeInvalidID):             "Cluster ids are lower-case DNS labels; clusters_list shows them.",
	string(contracts.CodeForbidden):             "Your key may not do this.",
	string(contracts.CodeCommandDenied):         allowedVerbs,
	string(contracts.StatusDenied):              allowedVerbs,
	string(contracts.CodeUnauthorized):          "The API key or token was refused; check the client's configuration.",
	string(contracts.CodeSessionNotFound):       "The session does not exist; omit it.",
	string(contracts.CodeInternal):              "Kubently failed internally; retry shortly.",
	string(contracts.CodeResultNotAwaited):      "The result arrived late; retry the call.",
}

// hintFor returns the hint for a reason (preferred) or a code.
func hintFor(code, reason string) string {
	if h, ok := hints[reason]; ok && reason != "" {
		return h
	}
	return hints[code]
}
