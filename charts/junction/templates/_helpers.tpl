{{/* Names, labels and the security settings every pod shares. */}}

{{- define "junction.fullname" -}}
{{- printf "%s" .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- end -}}

{{- define "junction.name" -}}
{{- printf "%s-%s" (include "junction.fullname" .root) .component | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "junction.selectorLabels" -}}
app.kubernetes.io/name: junction
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "junction.labels" -}}
{{ include "junction.selectorLabels" . }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/part-of: junction
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .root.Chart.Name .root.Chart.Version }}
{{- end -}}

{{- define "junction.image" -}}
{{- $registry := .root.Values.image.registry -}}
{{- if $registry -}}{{ $registry }}/{{- end -}}junction/{{ .component }}:{{ .root.Values.image.tag }}
{{- end -}}

{{/* Pod Security "restricted", numeric non-root user. */}}
{{- define "junction.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ .uid | default 10001 }}
runAsGroup: {{ .uid | default 10001 }}
fsGroup: {{ .uid | default 10001 }}
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- define "junction.containerSecurityContext" -}}
allowPrivilegeEscalation: false
{{- /* Only Tilt's live update (devMode) writes into a running container. */}}
readOnlyRootFilesystem: {{ if and .root .root.Values.devMode }}false{{ else }}true{{ end }}
runAsNonRoot: true
capabilities:
  drop: ["ALL"]
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- define "junction.natsUrl" -}}
{{- if .Values.nats.enabled -}}
nats://{{ include "junction.fullname" . }}-nats:4222
{{- else -}}
{{- required "nats.url is required when nats.enabled=false" .Values.nats.url -}}
{{- end -}}
{{- end -}}

{{- define "junction.otlpEndpoint" -}}
{{- if .Values.telemetry.otlpEndpoint -}}
{{- .Values.telemetry.otlpEndpoint -}}
{{- else if .Values.jaeger.enabled -}}
http://{{ include "junction.fullname" . }}-jaeger:4317
{{- end -}}
{{- end -}}

{{- define "junction.smtpHost" -}}
{{- if .Values.mailpit.enabled -}}
{{ include "junction.fullname" . }}-mailpit
{{- else -}}
{{- required "mailpit.smtp.host is required when mailpit.enabled=false" .Values.mailpit.smtp.host -}}
{{- end -}}
{{- end -}}

{{- define "junction.smtpPort" -}}
{{- if .Values.mailpit.enabled -}}1025{{- else -}}{{ .Values.mailpit.smtp.port }}{{- end -}}
{{- end -}}

{{/* The base URLs the e2e suite (Job, helm test) is configured with. */}}
{{- define "junction.e2eEnv" -}}
{{- $f := include "junction.fullname" . -}}
- name: JUNCTION_STOREFRONT_URL
  value: http://{{ $f }}-storefront:8080
- name: JUNCTION_ORDERS_URL
  value: http://{{ $f }}-orders:8080
- name: JUNCTION_INVENTORY_URL
  value: http://{{ $f }}-inventory:8080
- name: JUNCTION_PAYMENTS_URL
  value: http://{{ $f }}-payments:8080
{{- include "junction.e2eNatsEnv" . }}
{{- if .Values.mailpit.enabled }}
- name: JUNCTION_MAIL_API_URL
  value: http://{{ $f }}-mailpit:8025
{{- end }}
{{- if .Values.jaeger.enabled }}
- name: JUNCTION_TRACE_QUERY_URL
  value: http://{{ $f }}-jaeger:16686
{{- end }}
{{- end -}}

{{- define "junction.natsConf" -}}
{{- $name := include "junction.name" (dict "root" . "component" "nats") -}}
{{- $replicas := int .Values.nats.replicas -}}
{{- $permissions := .Files.Get "files/nats-permissions.json" | fromJson -}}
server_name: $POD_NAME
listen: 0.0.0.0:4222
http: 0.0.0.0:8222
pid_file: /var/run/nats/nats.pid
max_payload: 1MB
lame_duck_duration: 30s
lame_duck_grace_period: 10s
jetstream {
  store_dir: /data/jetstream
  # Every acknowledged write is on disk; with 3 replicas a lost node loses nothing.
  sync_interval: always
  max_file_store: {{ .Values.nats.maxFileStore }}
  max_memory_store: {{ .Values.nats.maxMemoryStore }}
}
{{- if gt $replicas 1 }}
cluster {
  name: {{ $name }}
  listen: 0.0.0.0:6222
  routes: [
    {{- range $i := until $replicas }}
    nats://{{ $name }}-{{ $i }}.{{ $name }}-headless:6222
    {{- end }}
  ]
}
{{- end }}
{{- if .Values.nats.auth.enabled }}
authorization {
  users = [
    {{- range $user := include "junction.natsUsers" . | fromJsonArray }}
    {user: {{ $user }}, password: ${{ include "junction.natsPasswordEnv" $user }}
      {{- if ne $user "operator" }}, permissions: {{ index $permissions $user | toRawJson }}{{ end }}}
    {{- end }}
  ]
}
{{- end }}
{{- end -}}


{{/* NATS users: every service, and the operator (the e2e suite). */}}
{{- define "junction.natsUsers" -}}
{{- $users := list -}}
{{- range $name, $_ := .Values.services }}{{ $users = append $users $name }}{{ end -}}
{{- append $users "operator" | toJson -}}
{{- end -}}

{{- define "junction.natsSecret" -}}
{{- if .Values.nats.auth.existingSecret -}}
{{ .Values.nats.auth.existingSecret }}
{{- else -}}
{{ include "junction.fullname" . }}-nats-auth
{{- end -}}
{{- end -}}

{{/* Every NATS user's password, as JSON: the one set in values, else (a local cluster only)
one derived from nats.auth.devPasswordSeed, which is stable across renders. */}}
{{- define "junction.natsPasswords" -}}
{{- $passwords := dict -}}
{{- $seed := .Values.nats.auth.devPasswordSeed -}}
{{- range $user := include "junction.natsUsers" . | fromJsonArray -}}
{{- $given := index $.Values.nats.auth.passwords $user | default "" -}}
{{- if eq $given "CHANGE-ME" -}}
{{- fail (printf "nats.auth.passwords.%s is still the placeholder CHANGE-ME: set a real password, or nats.auth.existingSecret" $user) -}}
{{- end -}}
{{- if and $given (not (regexMatch "^[A-Za-z0-9]{16,}$" $given)) -}}
{{- fail (printf "nats.auth.passwords.%s: use at least 16 letters and digits" $user) -}}
{{- end -}}
{{- if $given -}}
{{- $_ := set $passwords $user $given -}}
{{- else if $seed -}}
{{- $_ := set $passwords $user (printf "%s/%s/%s" $seed $.Release.Name $user | sha256sum | trunc 32) -}}
{{- else -}}
{{- fail (printf "nats.auth.passwords.%s is not set: set every password, or nats.auth.existingSecret (production), or nats.auth.devPasswordSeed (a local cluster)" $user) -}}
{{- end -}}
{{- end -}}
{{- toJson $passwords -}}
{{- end -}}

{{/* A pod annotation that changes when the NATS passwords do, so pods restart with them. An
existing Secret is not read at render time: bump nats.auth.rotation after changing it. */}}
{{- define "junction.natsAuthChecksum" -}}
{{- if and .Values.nats.enabled .Values.nats.auth.enabled -}}
{{- $source := printf "existing:%s" .Values.nats.auth.existingSecret -}}
{{- if not .Values.nats.auth.existingSecret -}}
{{- $source = include "junction.natsPasswords" . -}}
{{- end -}}
checksum/nats-auth: {{ printf "%s|%v" $source .Values.nats.auth.rotation | sha256sum | trunc 16 | quote }}
{{- end -}}
{{- end -}}

{{- define "junction.natsPasswordEnv" -}}
{{ printf "%s_NATS_PASSWORD" (upper .) }}
{{- end -}}

{{/* The e2e suite connects as the operator (its password comes from the Secret). */}}
{{- define "junction.e2eNatsEnv" -}}
{{- if and .Values.nats.enabled .Values.nats.auth.enabled }}
- name: OPERATOR_NATS_PASSWORD
  valueFrom: {secretKeyRef: {name: {{ include "junction.natsSecret" . }}, key: operator}}
- name: JUNCTION_NATS_URL
  value: nats://operator:$(OPERATOR_NATS_PASSWORD)@{{ include "junction.fullname" . }}-nats:4222
{{- else }}
- name: JUNCTION_NATS_URL
  value: {{ include "junction.natsUrl" . }}
{{- end }}
{{- end -}}

{{/* What users of other charts expect on every pod: pull secrets and placement. */}}
{{- define "junction.podPlacement" -}}
{{- with .Values.pod.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.pod.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.pod.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.pod.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{/* Spread a workload's pods over nodes (and zones, where the nodes say). `hard` refuses to
schedule two on one node: NATS, whose quorum two pods on one node would lose together. */}}
{{- define "junction.topologySpread" -}}
{{- if .root.Values.topologySpread.enabled }}
topologySpreadConstraints:
  - maxSkew: 1
    topologyKey: kubernetes.io/hostname
    whenUnsatisfiable: {{ ternary "DoNotSchedule" "ScheduleAnyway" (default false .hard) }}
    labelSelector:
      matchLabels:
        {{- include "junction.selectorLabels" . | nindent 8 }}
  - maxSkew: 1
    topologyKey: topology.kubernetes.io/zone
    whenUnsatisfiable: ScheduleAnyway
    labelSelector:
      matchLabels:
        {{- include "junction.selectorLabels" . | nindent 8 }}
{{- end }}
{{- end -}}

{{/* Values that the schema cannot relate to each other. */}}
{{- define "junction.checkValues" -}}
{{- if and .Values.nats.enabled (gt (int .Values.nats.jetstreamReplicas) (int .Values.nats.replicas)) -}}
{{- fail (printf "nats.jetstreamReplicas (%v) cannot exceed nats.replicas (%v): JetStream would refuse to create the streams" .Values.nats.jetstreamReplicas .Values.nats.replicas) -}}
{{- end -}}
{{- if and .Values.ingress.enabled (not .Values.ingress.host) -}}
{{- fail "ingress.host is required when ingress.enabled=true" -}}
{{- end -}}
{{- end -}}
