{{/* The release's name for Rampart's objects. */}}
{{- define "rampart.fullname" -}}
{{- if contains "rampart" .Release.Name -}}
{{- .Release.Name | trunc 50 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-rampart" .Release.Name | trunc 50 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/* Labels on every object. */}}
{{- define "rampart.labels" -}}
app.kubernetes.io/name: rampart
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{/* The image. */}}
{{- define "rampart.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}

{{/* The security context of every Rampart container. */}}
{{- define "rampart.containerSecurity" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
runAsNonRoot: true
runAsUser: 65532
runAsGroup: 65532
capabilities:
  drop: [ALL]
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/* The pod security context. */}}
{{- define "rampart.podSecurity" -}}
runAsNonRoot: true
runAsUser: 65532
runAsGroup: 65532
fsGroup: 65532
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/* The gateway's configuration file. */}}
{{- define "rampart.gatewayConfig" -}}
{{- $c := deepCopy .Values.gateway.config -}}
{{- $_ := set $c "listen" (printf "0.0.0.0:%v" .Values.gateway.port) -}}
{{- $_ := set $c "admin_listen" (printf "0.0.0.0:%v" .Values.gateway.adminPort) -}}
{{- $_ := set $c "data_dir" "/var/lib/rampart" -}}
{{- if .Values.gateway.policies -}}
{{- $_ := set $c "policies" (list "/etc/rampart/policies") -}}
{{- end -}}
{{- if .Values.gateway.egress.enabled -}}
{{- $_ := set $c "forward_proxy" (dict "enabled" true) -}}
{{- end -}}
{{- if .Values.controller.enabled -}}
{{- $_ := set $c "kubernetes" (dict "controller" (printf "http://%s-controller.%s.svc:%v" (include "rampart.fullname" .) .Release.Namespace .Values.controller.port)) -}}
{{- end -}}
{{- toYaml $c -}}
{{- end -}}
