{{- define "executor.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "executor.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 50 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 50 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 50 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "executor.selectorLabels" -}}
app.kubernetes.io/name: {{ include "executor.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: executor
{{- end -}}

{{- define "executor.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/part-of: kubently
{{ include "executor.selectorLabels" . }}
{{- end -}}

{{- define "executor.tokenSecret" -}}
{{- default (printf "%s-token" (include "executor.fullname" .)) .Values.existingSecret.name -}}
{{- end -}}

{{/*
executor.readRules: the read-only rules the command set needs. Never
secrets, never a wildcard; only get, list and watch. Call with (dict
"ctx" $ "cluster" true) to include the cluster-scoped resources.
*/}}
{{- define "executor.readRules" -}}
{{- $verbs := list "get" "list" "watch" -}}
# get/describe/logs/events/top/rollout on workloads, and what describe shows.
- apiGroups: [""]
  resources: [pods, pods/log, services, endpoints, configmaps, events, persistentvolumeclaims,
              replicationcontrollers, serviceaccounts, resourcequotas, limitranges, podtemplates]
  verbs: {{ toJson $verbs }}
{{- if .cluster }}
# nodes (get/describe/top node), namespaces (get ns, -A), persistent volumes.
- apiGroups: [""]
  resources: [nodes, namespaces, persistentvolumes]
  verbs: {{ toJson $verbs }}
{{- end }}
- apiGroups: [apps]
  resources: [deployments, replicasets, statefulsets, daemonsets, controllerrevisions]
  verbs: {{ toJson $verbs }}
- apiGroups: [batch]
  resources: [jobs, cronjobs]
  verbs: {{ toJson $verbs }}
- apiGroups: [networking.k8s.io]
  resources: [ingresses, networkpolicies{{ if .cluster }}, ingressclasses{{ end }}]
  verbs: {{ toJson $verbs }}
- apiGroups: [discovery.k8s.io]
  resources: [endpointslices]
  verbs: {{ toJson $verbs }}
- apiGroups: [autoscaling]
  resources: [horizontalpodautoscalers]
  verbs: {{ toJson $verbs }}
- apiGroups: [policy]
  resources: [poddisruptionbudgets]
  verbs: {{ toJson $verbs }}
- apiGroups: [events.k8s.io]
  resources: [events]
  verbs: {{ toJson $verbs }}
- apiGroups: [coordination.k8s.io]
  resources: [leases]
  verbs: {{ toJson $verbs }}
- apiGroups: [rbac.authorization.k8s.io]
  resources: [roles, rolebindings{{ if .cluster }}, clusterroles, clusterrolebindings{{ end }}]
  verbs: {{ toJson $verbs }}
- apiGroups: [metrics.k8s.io]
  resources: [pods{{ if .cluster }}, nodes{{ end }}]
  verbs: {{ toJson $verbs }}
{{- if .cluster }}
- apiGroups: [storage.k8s.io]
  resources: [storageclasses, csidrivers, csinodes, volumeattachments]
  verbs: {{ toJson $verbs }}
- apiGroups: [scheduling.k8s.io]
  resources: [priorityclasses]
  verbs: {{ toJson $verbs }}
- apiGroups: [apiextensions.k8s.io]
  resources: [customresourcedefinitions]
  verbs: {{ toJson $verbs }}
{{- end }}
{{- range .ctx.Values.rbac.customResources }}
{{- range .apiGroups }}{{ if or (eq . "*") (eq . "") }}{{ fail "rbac.customResources: wildcard or core apiGroups are refused" }}{{ end }}{{ end }}
{{- range .resources }}{{ if or (contains "*" .) (eq . "secrets") }}{{ fail "rbac.customResources: wildcards and secrets are refused" }}{{ end }}{{ end }}
- apiGroups: {{ toJson .apiGroups }}
  resources: {{ toJson .resources }}
  verbs: {{ toJson $verbs }}
{{- end }}
{{- end -}}
