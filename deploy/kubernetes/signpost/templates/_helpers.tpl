{{/* Labels every object carries; `signpost.io/service` tells the four services apart. */}}
{{- define "signpost.labels" -}}
app.kubernetes.io/name: signpost
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ .Chart.Name }}-{{ .Chart.Version }}
{{- end -}}

{{- define "signpost.selector" -}}
app.kubernetes.io/name: signpost
app.kubernetes.io/instance: {{ .root.Release.Name }}
signpost.io/service: {{ .service }}
{{- end -}}

{{/* The HTTP port a service listens on: signpost/settings.py DEFAULT_PORTS. */}}
{{- define "signpost.port" -}}
{{- get (dict "intake" 8001 "router" 8002 "notifier" 8003 "audit" 8004) . -}}
{{- end -}}

{{/* The Kafka bootstrap address the services use: the TLS listener, like every other client. */}}
{{- define "signpost.kafkaBootstrap" -}}
{{ .Values.kafka.clusterName }}-kafka-bootstrap:{{ .Values.kafka.tlsPort }}
{{- end -}}

{{/* The Secret holding a service's HTTPS certificate, key and issuing CA. */}}
{{- define "signpost.tlsSecret" -}}
signpost-{{ . }}-tls
{{- end -}}

{{- define "signpost.kafkaPods" -}}
strimzi.io/cluster: {{ .Values.kafka.clusterName }}
strimzi.io/kind: Kafka
strimzi.io/name: {{ .Values.kafka.clusterName }}-kafka
{{- end -}}

{{- define "signpost.role" -}}
{{- $service := .service -}}
{{- range .root.Values.postgres.roles -}}
{{- if eq (default "" .service) $service -}}{{ toYaml . }}{{- end -}}
{{- end -}}
{{- end -}}
