{{- define "simfleet.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "simfleet.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "simfleet.selector" -}}
app.kubernetes.io/name: {{ .root.Chart.Name }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "simfleet.image" -}}
{{ printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end -}}

{{- define "simfleet.kafkaSecret" -}}
{{- default (printf "%s-kafka" (include "simfleet.fullname" .)) .Values.kafka.existingSecret -}}
{{- end -}}

{{- define "simfleet.registrySecret" -}}
{{- default (printf "%s-registry" (include "simfleet.fullname" .)) .Values.schemaRegistry.existingSecret -}}
{{- end -}}

{{- define "simfleet.adminSecret" -}}
{{- default (printf "%s-admin" (include "simfleet.fullname" .)) .Values.admin.existingSecret -}}
{{- end -}}

{{- define "simfleet.useKafkaSecret" -}}
{{- if or .Values.kafka.sasl.enabled .Values.kafka.existingSecret }}true{{ end -}}
{{- end -}}

{{- define "simfleet.useRegistry" -}}
{{- if or .Values.schemaRegistry.url .Values.schemaRegistry.existingSecret }}true{{ end -}}
{{- end -}}

{{/* The environment every simfleet container shares: where Kafka is, the run's settings. */}}
{{- define "simfleet.env" -}}
- name: SIMCTL_BOOTSTRAP_SERVERS
  value: {{ required "kafka.bootstrapServers is required (host:port of your Kafka)" .Values.kafka.bootstrapServers | quote }}
- name: SIMCTL_STATE_DIR
  value: /var/lib/simfleet
- name: SIMCTL_SPEED
  value: {{ .Values.fleet.speed | quote }}
- name: SIMCTL_SCALE
  value: {{ .Values.fleet.scale | quote }}
- name: SIMCTL_SHARDS
  value: {{ .Values.fleet.shards | quote }}
- name: SIMCTL_SEED
  value: {{ .Values.fleet.seed | quote }}
- name: SIMCTL_EXTERNAL_EVENTS
  value: {{ .Values.fleet.externalEvents | quote }}
{{- with .Values.fleet.domains }}
- name: SIMCTL_DOMAINS
  value: {{ toJson . | quote }}
{{- end }}
{{- if include "simfleet.useKafkaSecret" . }}
- name: SIMCTL_KAFKA_PROPERTIES
  value: /etc/simfleet/kafka/kafka.properties
{{- end }}
{{- if include "simfleet.useRegistry" . }}
- name: SIMCTL_SCHEMA_REGISTRY_URL
  valueFrom:
    secretKeyRef:
      name: {{ include "simfleet.registrySecret" . }}
      key: url
{{- end }}
{{- with .Values.fleet.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{- define "simfleet.volumeMounts" -}}
- name: state
  mountPath: /var/lib/simfleet
- name: tmp
  mountPath: /tmp
- name: packs
  mountPath: /packs
  readOnly: true
{{- if include "simfleet.useKafkaSecret" . }}
- name: kafka
  mountPath: /etc/simfleet/kafka
  readOnly: true
{{- end }}
{{- end -}}

{{- define "simfleet.volumes" -}}
# the root filesystem is read-only: the state folder and /tmp are the pod's own
- name: state
  emptyDir: {}
- name: tmp
  emptyDir: {}
- name: packs
{{- if .Values.packs }}
  configMap:
    name: {{ include "simfleet.fullname" . }}-packs
    items:
    {{- range $path, $_ := .Values.packs }}
      - key: {{ $path | replace "/" "__" }}
        path: {{ $path }}
    {{- end }}
{{- else }}
  emptyDir: {}
{{- end }}
{{- if include "simfleet.useKafkaSecret" . }}
- name: kafka
  secret:
    secretName: {{ include "simfleet.kafkaSecret" . }}
{{- end }}
{{- end -}}

{{- define "simfleet.podSpec" -}}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
securityContext:
  {{- toYaml .Values.podSecurityContext | nindent 2 }}
{{- with .Values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
volumes:
  {{- include "simfleet.volumes" . | nindent 2 }}
{{- end -}}
