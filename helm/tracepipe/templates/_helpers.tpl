{{/*
Names, labels and the pieces every Deployment shares.
*/}}

{{- define "tracepipe.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The release's full name; components append "-gateway", "-processor", "-sink"
(at most 10 characters), so it is cut to 52.
*/}}
{{- define "tracepipe.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 52 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 52 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 52 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "tracepipe.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels of every object. */}}
{{- define "tracepipe.labels" -}}
helm.sh/chart: {{ include "tracepipe.chart" . }}
app.kubernetes.io/name: {{ include "tracepipe.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: tracepipe
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* Selector labels of one component: (dict "ctx" $ "component" "gateway"). */}}
{{- define "tracepipe.selectorLabels" -}}
app.kubernetes.io/name: {{ include "tracepipe.name" .ctx }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{/* Labels of one component's objects: (dict "ctx" $ "component" "gateway"). */}}
{{- define "tracepipe.componentLabels" -}}
{{ include "tracepipe.labels" .ctx }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "tracepipe.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "tracepipe.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "tracepipe.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/* Whether the catalog comes from a ConfigMap. */}}
{{- define "tracepipe.catalogFromConfigMap" -}}
{{- if eq .Values.catalog.source "configMap" }}true{{ end }}
{{- end }}

{{- define "tracepipe.catalogConfigMapName" -}}
{{- default (printf "%s-catalog" (include "tracepipe.fullname" .)) .Values.catalog.existingConfigMap }}
{{- end }}

{{/* Where the services read the catalog. */}}
{{- define "tracepipe.catalogPath" -}}
{{- if include "tracepipe.catalogFromConfigMap" . }}/etc/tracepipe/catalog{{ else }}{{ .Values.catalog.imagePath }}{{ end }}
{{- end }}

{{/*
Environment shared by every service: Kafka, topics, S3 (with the bounds of
the component's own S3 calls, <component>.s3). The argument is
(dict "ctx" $ "component" "gateway").
*/}}
{{- define "tracepipe.commonEnv" -}}
{{- $v := .ctx.Values -}}
- name: TRACEPIPE_LOG_FORMAT
  value: json
- name: TRACEPIPE_KAFKA_BOOTSTRAP
  value: {{ $v.kafka.bootstrap | quote }}
- name: TRACEPIPE_KAFKA_GROUP
  value: {{ index $v.kafka.groups .component | quote }}
- name: TRACEPIPE_TOPICS_SESSIONS
  value: {{ $v.kafka.topics.sessions | quote }}
- name: TRACEPIPE_TOPICS_EXAMPLES
  value: {{ $v.kafka.topics.examples | quote }}
- name: TRACEPIPE_TOPICS_DEAD_LETTER
  value: {{ $v.kafka.topics.deadLetter | quote }}
- name: TRACEPIPE_TOPICS_STATUS
  value: {{ $v.kafka.topics.status | quote }}
- name: TRACEPIPE_TOPICS_CATALOG
  value: {{ $v.kafka.topics.catalog | quote }}
- name: TRACEPIPE_TOPICS_PARTITIONS
  value: {{ $v.kafka.partitions | int | quote }}
- name: TRACEPIPE_S3_BUCKET
  value: {{ $v.s3.bucket | quote }}
- name: TRACEPIPE_S3_PREFIX
  value: {{ $v.s3.prefix | quote }}
{{- with (index $v .component).s3 }}
- name: TRACEPIPE_S3_REQUEST_TIMEOUT_SECS
  value: {{ .requestTimeoutSecs | int64 | quote }}
- name: TRACEPIPE_S3_RETRY_TIMEOUT_SECS
  value: {{ .retryTimeoutSecs | int64 | quote }}
{{- end }}
- name: AWS_REGION
  value: {{ $v.s3.region | quote }}
{{- with $v.s3.endpoint }}
- name: AWS_ENDPOINT_URL
  value: {{ . | quote }}
{{- end }}
{{- if $v.s3.allowHttp }}
- name: AWS_ALLOW_HTTP
  value: "true"
{{- end }}
{{- with $v.s3.existingSecret }}
- name: AWS_ACCESS_KEY_ID
  valueFrom:
    secretKeyRef:
      name: {{ . | quote }}
      key: {{ $v.s3.accessKeyIdKey | quote }}
- name: AWS_SECRET_ACCESS_KEY
  valueFrom:
    secretKeyRef:
      name: {{ . | quote }}
      key: {{ $v.s3.secretAccessKeyKey | quote }}
{{- end }}
{{- end }}

{{/* The catalog volume, when it comes from a ConfigMap. */}}
{{- define "tracepipe.catalogVolume" -}}
{{- if include "tracepipe.catalogFromConfigMap" . -}}
- name: catalog
  configMap:
    name: {{ include "tracepipe.catalogConfigMapName" . }}
    {{- if .Values.catalog.existingConfigMap }}
    {{- with .Values.catalog.items }}
    items:
      {{- toYaml . | nindent 6 }}
    {{- end }}
    {{- else }}
    items:
      {{- range $path, $_ := .Values.catalog.files }}
      - key: {{ include "tracepipe.catalogKey" $path }}
        path: {{ $path | quote }}
      {{- end }}
    {{- end }}
{{- end }}
{{- end }}

{{- define "tracepipe.catalogVolumeMount" -}}
{{- if include "tracepipe.catalogFromConfigMap" . -}}
- name: catalog
  mountPath: /etc/tracepipe/catalog
  readOnly: true
{{- end }}
{{- end }}

{{/* A catalog path as a ConfigMap key: "suites/gmail/suite.json" -> "suites__gmail__suite.json". */}}
{{- define "tracepipe.catalogKey" -}}
{{- replace "/" "__" . }}
{{- end }}

{{/*
The pod-level pieces every Deployment shares. The argument is
(dict "ctx" $ "values" .Values.gateway).
*/}}
{{- define "tracepipe.podExtras" -}}
{{- $ctx := .ctx -}}
serviceAccountName: {{ include "tracepipe.serviceAccountName" $ctx }}
{{- with $ctx.Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
automountServiceAccountToken: {{ $ctx.Values.serviceAccount.automountServiceAccountToken }}
{{- with $ctx.Values.podSecurityContext }}
securityContext:
  {{- toYaml . | nindent 2 }}
{{- end }}
terminationGracePeriodSeconds: {{ .values.terminationGracePeriodSeconds }}
{{- with .values.priorityClassName }}
priorityClassName: {{ . | quote }}
{{- end }}
{{- with .values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .values.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .values.topologySpreadConstraints }}
topologySpreadConstraints:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}

{{/* The component's --config overlay ConfigMap name. */}}
{{- define "tracepipe.configName" -}}
{{- printf "%s-%s-config" (include "tracepipe.fullname" .ctx) .component }}
{{- end }}
