{{/*
The Deployment of a Kafka consumer service (processor, sink): no Service port
of its own but a metrics/health port. The argument is
(dict "ctx" $ "component" "processor" "env" <rendered env list> "catalog" true).
*/}}
{{- define "tracepipe.workerDeployment" -}}
{{- $ := .ctx }}
{{- $component := .component }}
{{- $c := index $.Values $component }}
{{- $sel := dict "ctx" $ "component" $component }}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ include "tracepipe.fullname" $ }}-{{ $component }}
  namespace: {{ $.Release.Namespace }}
  labels:
    {{- include "tracepipe.componentLabels" $sel | nindent 4 }}
spec:
  {{- if not $c.keda.enabled }}
  replicas: {{ $c.replicaCount }}
  {{- end }}
  revisionHistoryLimit: 5
  selector:
    matchLabels:
      {{- include "tracepipe.selectorLabels" $sel | nindent 6 }}
  # A consumer group rebalances on every membership change: replace one
  # member at a time rather than surging.
  strategy:
    type: RollingUpdate
    rollingUpdate:
      maxSurge: 0
      maxUnavailable: 1
  template:
    metadata:
      labels:
        {{- include "tracepipe.selectorLabels" $sel | nindent 8 }}
        {{- with $c.podLabels }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      annotations:
        {{- if .catalog }}
        checksum/catalog: {{ include (print $.Template.BasePath "/catalog-configmap.yaml") $ | sha256sum }}
        {{- end }}
        checksum/config: {{ $c.config | sha256sum }}
        {{- with $c.podAnnotations }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
    spec:
      {{- include "tracepipe.podExtras" (dict "ctx" $ "values" $c) | nindent 6 }}
      containers:
        - name: {{ $component }}
          image: {{ include "tracepipe.image" $ | quote }}
          imagePullPolicy: {{ $.Values.image.pullPolicy }}
          command: ["tracepipe", {{ $component | quote }}]
          {{- if or $c.config $c.extraArgs }}
          args:
            {{- if $c.config }}
            - --config
            - /etc/tracepipe/config/{{ $component }}.toml
            {{- end }}
            {{- with $c.extraArgs }}
            {{- toYaml . | nindent 12 }}
            {{- end }}
          {{- end }}
          ports:
            - name: metrics
              containerPort: {{ $c.metricsPort }}
              protocol: TCP
          env:
            - name: TRACEPIPE_METRICS_LISTEN
              value: "0.0.0.0:{{ $c.metricsPort }}"
            {{- .env | nindent 12 }}
            {{- include "tracepipe.commonEnv" $sel | nindent 12 }}
            {{- with $c.extraEnv }}
            {{- toYaml . | nindent 12 }}
            {{- end }}
          {{- with $c.extraEnvFrom }}
          envFrom:
            {{- toYaml . | nindent 12 }}
          {{- end }}
          {{- with $c.livenessProbe }}
          livenessProbe:
            {{- toYaml . | nindent 12 }}
          {{- end }}
          {{- with $c.readinessProbe }}
          readinessProbe:
            {{- toYaml . | nindent 12 }}
          {{- end }}
          {{- with $c.resources }}
          resources:
            {{- toYaml . | nindent 12 }}
          {{- end }}
          {{- with $.Values.securityContext }}
          securityContext:
            {{- toYaml . | nindent 12 }}
          {{- end }}
          volumeMounts:
            - name: tmp
              mountPath: /tmp
            {{- if $c.config }}
            - name: config
              mountPath: /etc/tracepipe/config
              readOnly: true
            {{- end }}
            {{- if .catalog }}
            {{- if include "tracepipe.catalogFromConfigMap" $ }}
            {{- include "tracepipe.catalogVolumeMount" $ | nindent 12 }}
            {{- end }}
            {{- end }}
      volumes:
        - name: tmp
          emptyDir:
            sizeLimit: {{ $c.tmpSizeLimit }}
        {{- if $c.config }}
        - name: config
          configMap:
            name: {{ include "tracepipe.configName" $sel }}
        {{- end }}
        {{- if .catalog }}
        {{- if include "tracepipe.catalogFromConfigMap" $ }}
        {{- include "tracepipe.catalogVolume" $ | nindent 8 }}
        {{- end }}
        {{- end }}
{{- end }}
