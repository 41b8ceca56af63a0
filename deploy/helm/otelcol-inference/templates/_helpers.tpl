{{- define "oi.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 50 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 50 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "oi.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "oi.selector" -}}
app.kubernetes.io/name: {{ .root.Chart.Name }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "oi.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}

{{- define "oi.gateway.headless" -}}
{{ include "oi.fullname" . }}-gateway-headless
{{- end -}}

{{- define "oi.gateway.secret" -}}
{{- if .Values.gateway.remoteWrite.existingSecret -}}
{{ .Values.gateway.remoteWrite.existingSecret }}
{{- else -}}
{{ include "oi.fullname" . }}-remote-write
{{- end -}}
{{- end -}}

{{/* The Secret of the agents' token to the gateways. */}}
{{- define "oi.gateway.authSecret" -}}
{{- if .Values.gateway.auth.existingSecret -}}
{{ .Values.gateway.auth.existingSecret }}
{{- else -}}
{{ include "oi.fullname" . }}-ingest-token
{{- end -}}
{{- end -}}

{{/* The kubernetes.io/tls Secret of the gateways' OTLP ingress (with ca.crt). */}}
{{- define "oi.gateway.tlsSecret" -}}
{{- if .Values.gateway.tls.existingSecret -}}
{{ .Values.gateway.tls.existingSecret }}
{{- else -}}
{{ include "oi.fullname" . }}-gateway-tls
{{- end -}}
{{- end -}}

{{/* The name the gateways' certificate is for, and the agents check: the headless Service's. */}}
{{- define "oi.gateway.tlsName" -}}
{{ include "oi.gateway.headless" . }}.{{ .Release.Namespace }}.svc
{{- end -}}

{{/* Whether the agents authenticate to the gateways (TLS and a token). */}}
{{- define "oi.gateway.secured" -}}
{{- if and .Values.gateway.auth.enabled (not .Values.gateway.tls.enabled) -}}
{{- fail "gateway.tls.enabled=false needs gateway.auth.enabled=false: OTLP/gRPC sends no bearer token without TLS (turn both off only on a network you trust)" -}}
{{- end -}}
{{- if .Values.gateway.auth.enabled -}}true{{- end -}}
{{- end -}}

{{/* TLS and authentication of one of the gateways' OTLP protocols (the agents' token). */}}
{{- define "oi.gateway.ingress" -}}
{{- if .Values.gateway.tls.enabled }}
tls:
  cert_file: /etc/otelcol-inference/tls/tls.crt
  key_file: /etc/otelcol-inference/tls/tls.key
{{- end }}
{{- if include "oi.gateway.secured" . }}
auth:
  authenticator: bearertokenauth/agents
{{- end }}
{{- end -}}

{{- define "oi.gateway.hasToken" -}}
{{- if or .Values.gateway.remoteWrite.existingSecret .Values.gateway.remoteWrite.bearerToken -}}true{{- end -}}
{{- end -}}

{{/* The environment every collector gets: its pod IP (health check and telemetry listen on it), the
node, and GOMEMLIMIT from the memory limit so that the Go heap stays under it. */}}
{{- define "oi.env" -}}
- name: MY_POD_IP
  valueFrom: {fieldRef: {fieldPath: status.podIP}}
- name: K8S_NODE_NAME
  valueFrom: {fieldRef: {fieldPath: spec.nodeName}}
- name: K8S_NODE_IP
  valueFrom: {fieldRef: {fieldPath: status.hostIP}}
- name: K8S_POD_NAME
  valueFrom: {fieldRef: {fieldPath: metadata.name}}
- name: K8S_NAMESPACE
  valueFrom: {fieldRef: {fieldPath: metadata.namespace}}
- name: GOMEMLIMIT
  valueFrom: {resourceFieldRef: {resource: limits.memory, divisor: "1"}}
{{- end -}}
