{{/* Names */}}
{{- define "kubently.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "kubently.fullname" -}}
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

{{/* kubently.labels: common labels; call with (dict "ctx" $ "component" "gateway"). */}}
{{- define "kubently.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .ctx.Chart.Name .ctx.Chart.Version | replace "+" "_" }}
app.kubernetes.io/managed-by: {{ .ctx.Release.Service }}
app.kubernetes.io/version: {{ .ctx.Chart.AppVersion | quote }}
app.kubernetes.io/part-of: kubently
{{ include "kubently.selectorLabels" . }}
{{- end -}}

{{- define "kubently.selectorLabels" -}}
app.kubernetes.io/name: {{ include "kubently.name" .ctx }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
{{- if .component }}
app.kubernetes.io/component: {{ .component }}
{{- end }}
{{- end -}}

{{- define "kubently.image" -}}
{{- printf "%s/%s:%s" .ctx.Values.image.registry .component (default .ctx.Chart.AppVersion .ctx.Values.image.tag) -}}
{{- end -}}

{{/* Secret names */}}
{{- define "kubently.apiKeysSecret" -}}
{{- default (printf "%s-api-keys" (include "kubently.fullname" .)) .Values.auth.apiKeysExistingSecret -}}
{{- end -}}
{{- define "kubently.agentTokensSecret" -}}
{{- default (printf "%s-agent-tokens" (include "kubently.fullname" .)) .Values.auth.agentTokensExistingSecret -}}
{{- end -}}
{{- define "kubently.natsAuthSecret" -}}
{{- default (printf "%s-nats-auth" (include "kubently.fullname" .)) .Values.nats.auth.existingSecret -}}
{{- end -}}
{{- define "kubently.redisAuthSecret" -}}
{{- default (printf "%s-redis-auth" (include "kubently.fullname" .)) .Values.redis.auth.existingSecret -}}
{{- end -}}

{{/*
kubently.platformEnv: the environment every central service shares beyond
the common ConfigMap — Secret references for NATS and Redis credentials.
*/}}
{{- define "kubently.platformEnv" -}}
{{- with .Values.redis.urlSecret }}
- name: KUBENTLY_REDIS_URL
  valueFrom:
    secretKeyRef: {name: {{ .name }}, key: {{ .key }}}
{{- end }}
{{- if eq .Values.nats.auth.mode "userPassword" }}
- name: KUBENTLY_NATS_USER
  valueFrom:
    secretKeyRef: {name: {{ include "kubently.natsAuthSecret" . }}, key: user}
- name: KUBENTLY_NATS_PASSWORD
  valueFrom:
    secretKeyRef: {name: {{ include "kubently.natsAuthSecret" . }}, key: password}
{{- end }}
{{- if .Values.redis.auth.enabled }}
- name: KUBENTLY_REDIS_USERNAME
  valueFrom:
    secretKeyRef: {name: {{ include "kubently.redisAuthSecret" . }}, key: username, optional: true}
- name: KUBENTLY_REDIS_PASSWORD
  valueFrom:
    secretKeyRef: {name: {{ include "kubently.redisAuthSecret" . }}, key: password}
{{- end }}
{{- end -}}

{{/* kubently.platformVolumeMounts / Volumes: NATS and Redis credential files. */}}
{{- define "kubently.platformVolumeMounts" -}}
- name: tmp
  mountPath: /tmp
{{- if has .Values.nats.auth.mode (list "creds" "nkey") }}
- name: nats-auth
  mountPath: /etc/kubently/nats-auth
  readOnly: true
{{- end }}
{{- if .Values.nats.tls.enabled }}
- name: nats-tls
  mountPath: /etc/kubently/nats-tls
  readOnly: true
{{- end }}
{{- if .Values.redis.tls.enabled }}
- name: redis-tls
  mountPath: /etc/kubently/redis-tls
  readOnly: true
{{- end }}
{{- end -}}

{{- define "kubently.platformVolumes" -}}
- name: tmp
  emptyDir: {sizeLimit: 64Mi}
{{- if has .Values.nats.auth.mode (list "creds" "nkey") }}
- name: nats-auth
  secret: {secretName: {{ include "kubently.natsAuthSecret" . }}, defaultMode: 0440}
{{- end }}
{{- if .Values.nats.tls.enabled }}
- name: nats-tls
  secret: {secretName: {{ required "nats.tls.existingSecret is required with nats.tls.enabled" .Values.nats.tls.existingSecret }}, defaultMode: 0440}
{{- end }}
{{- if .Values.redis.tls.enabled }}
- name: redis-tls
  secret: {secretName: {{ required "redis.tls.existingSecret is required with redis.tls.enabled" .Values.redis.tls.existingSecret }}, defaultMode: 0440}
{{- end }}
{{- end -}}

{{/* kubently.pod: the pod spec parts every central Deployment shares; call with (dict "ctx" $ "component" "gateway" "svc" .Values.gateway). */}}
{{- define "kubently.podCommon" -}}
serviceAccountName: {{ include "kubently.fullname" .ctx }}
automountServiceAccountToken: false
enableServiceLinks: false
terminationGracePeriodSeconds: {{ .svc.terminationGracePeriodSeconds }}
securityContext:
  {{- toYaml .ctx.Values.podSecurityContext | nindent 2 }}
{{- with .ctx.Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- if .ctx.Values.topologySpread.enabled }}
topologySpreadConstraints:
{{- range $key := list "kubernetes.io/hostname" "topology.kubernetes.io/zone" }}
  - maxSkew: {{ $.ctx.Values.topologySpread.maxSkew }}
    topologyKey: {{ $key }}
    whenUnsatisfiable: {{ $.ctx.Values.topologySpread.whenUnsatisfiable }}
    labelSelector:
      matchLabels:
        {{- include "kubently.selectorLabels" (dict "ctx" $.ctx "component" $.component) | nindent 8 }}
{{- end }}
{{- end }}
{{- with .svc.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .svc.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .svc.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{/* kubently.strategy: rolling updates that never take a ready replica away first. */}}
{{- define "kubently.strategy" -}}
strategy:
  type: RollingUpdate
  rollingUpdate:
    maxUnavailable: 0
    maxSurge: 1
{{- end -}}
