{{/*
The object set of one ragplane workload (a service or the CPU model server): ConfigMap, ServiceAccount,
Deployment, Service, PodDisruptionBudget, optional HPA, NetworkPolicy, optional ServiceMonitor.
Call with dict "root" $ "name" <workload>.
*/}}
{{- define "ragplane.workload" -}}
{{- if include "ragplane.deployed" . -}}
{{- $root := .root -}}
{{- $name := .name -}}
{{- $block := get .root.Values .name -}}
{{- $fullName := include "ragplane.workloadName" . -}}
{{- $config := include "ragplane.configData" . -}}
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ $fullName }}
  labels:
    {{- include "ragplane.labels" . | nindent 4 }}
data:
  {{- $config | nindent 2 }}
---
apiVersion: v1
kind: ServiceAccount
metadata:
  name: {{ $fullName }}
  labels:
    {{- include "ragplane.labels" . | nindent 4 }}
  {{- with $block.serviceAccount.annotations }}
  annotations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
automountServiceAccountToken: false
---
{{ include "ragplane.deployment" (dict "root" $root "name" $name "config" $config) }}
---
{{ include "ragplane.service" . }}
{{- with include "ragplane.headlessService" . }}
---
{{ . }}
{{- end }}
{{- range $extra := list "ragplane.metricsService" "ragplane.ingress" "ragplane.grpcRoute" }}
{{- with include $extra (dict "root" $root "name" $name) }}
---
{{ . }}
{{- end }}
{{- end }}
---
{{ include "ragplane.pdb" . }}
{{- if $block.hpa.enabled }}
---
{{ include "ragplane.hpa" (dict "root" $root "name" $name "kind" "Deployment") }}
{{- end }}
{{- if $root.Values.global.networkPolicy.enabled }}
---
{{ include "ragplane.networkPolicy" . }}
{{- end }}
{{- if $root.Values.global.metrics.serviceMonitor.enabled }}
---
{{ include "ragplane.serviceMonitor" . }}
{{- end }}
{{- end -}}
{{- end -}}

{{/*
The Deployment of a ragplane workload: one container on its gRPC and metrics ports, settings from its
ConfigMap (whose checksum rolls the pods): dict "root" $ "name" <workload> "config" <ConfigMap data>.
*/}}
{{- define "ragplane.deployment" -}}
{{- $root := .root -}}
{{- $name := .name -}}
{{- $block := get .root.Values .name -}}
{{- include "ragplane.loadTopology" .root -}}
{{- $topo := get .root.ragplaneTopology .name -}}
{{- $fullName := include "ragplane.workloadName" . -}}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ $fullName }}
  labels:
    {{- include "ragplane.labels" . | nindent 4 }}
spec:
  {{- if not (or $block.hpa.enabled (include "ragplane.ragAutoscaled" .)) }}
  replicas: {{ $block.replicas }}
  {{- end }}
  revisionHistoryLimit: 5
  selector:
    matchLabels:
      {{- include "ragplane.selectorLabels" . | nindent 6 }}
  strategy:
    {{- if $block.strategy }}
    {{- toYaml $block.strategy | nindent 4 }}
    {{- else }}
    type: RollingUpdate
    rollingUpdate: {maxSurge: 1, maxUnavailable: 0}
    {{- end }}
  template:
    metadata:
      labels:
        {{- include "ragplane.labels" . | nindent 8 }}
        {{- with $block.podLabels }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      annotations:
        {{- include "ragplane.podAnnotations" (dict "root" $root "name" $name "checksum" (.config | sha256sum)) | nindent 8 }}
    spec:
      serviceAccountName: {{ $fullName }}
      automountServiceAccountToken: false
      enableServiceLinks: false
      terminationGracePeriodSeconds: {{ include "ragplane.terminationGrace" $root }}
      securityContext:
        {{- include "ragplane.podSecurityContext" . | nindent 8 }}
      {{- include "ragplane.placement" . | nindent 6 }}
      containers:
        - name: {{ $name }}
          image: {{ include "ragplane.image" (dict "root" $root "name" $name "image" $block.image) }}
          imagePullPolicy: {{ $root.Values.global.image.pullPolicy }}
          ports:
            - name: grpc
              containerPort: {{ $topo.grpcPort }}
              protocol: TCP
            - name: metrics
              containerPort: {{ $topo.metricsPort }}
              protocol: TCP
            {{- if include "ragplane.hasInternalPort" . }}
            - name: grpc-internal
              containerPort: {{ include "ragplane.internalPort" . }}
              protocol: TCP
            {{- end }}
            {{- if include "ragplane.tlsOn" . }}
            - name: grpc-health
              containerPort: {{ include "ragplane.healthPort" . }}
              protocol: TCP
            {{- end }}
          envFrom:
            - configMapRef:
                name: {{ $fullName }}
          env:
            {{- include "ragplane.secretEnv" . | nindent 12 }}
          resources:
            {{- include "ragplane.resources" (dict "name" $name "resources" $block.resources "gpus" $block.gpu.count "resourceName" $block.gpu.resourceName) | nindent 12 }}
          securityContext:
            {{- include "ragplane.containerSecurityContext" . | nindent 12 }}
          {{- include "ragplane.grpcProbes" . | nindent 10 }}
          volumeMounts:
            {{- include "ragplane.volumeMounts" . | nindent 12 }}
      volumes:
        {{- include "ragplane.volumes" . | nindent 8 }}
{{- end -}}

{{/*
The Service of a ragplane workload: its gRPC and metrics ports, ClusterIP. A client-facing workload may set
service.type (NodePort, LoadBalancer): that Service then carries only the gRPC port (ragplane.metricsService).
*/}}
{{- define "ragplane.service" -}}
{{- include "ragplane.loadTopology" .root -}}
{{- $topo := get .root.ragplaneTopology .name -}}
{{- $block := get .root.Values .name -}}
apiVersion: v1
kind: Service
metadata:
  name: {{ include "ragplane.workloadName" . }}
  labels:
    {{- include "ragplane.labels" . | nindent 4 }}
  {{- with $block.service.annotations }}
  annotations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
spec:
  type: {{ $block.service.type | default "ClusterIP" }}
  {{- with $block.service.loadBalancerSourceRanges }}
  loadBalancerSourceRanges:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  selector:
    {{- include "ragplane.selectorLabels" . | nindent 4 }}
  ports:
    - name: grpc
      port: {{ $topo.grpcPort }}
      targetPort: grpc
      protocol: TCP
      appProtocol: grpc
    {{- if not (include "ragplane.exposedService" .) }}
    - name: metrics
      port: {{ $topo.metricsPort }}
      targetPort: metrics
      protocol: TCP
      appProtocol: http
    {{- end }}
{{- end -}}

{{/*
"true" when one of the example RagAutoscalers (autoscaler.examples) scales this workload (its topology names
the example): the chart then leaves spec.replicas unset, so that a helm upgrade does not reset the count the
operator chose. Usage: include "ragplane.ragAutoscaled" (dict "root" $ "name" "embed")
*/}}
{{- define "ragplane.ragAutoscaled" -}}
{{- $a := .root.Values.autoscaler | default dict -}}
{{- $ex := $a.examples | default dict -}}
{{- include "ragplane.loadTopology" .root -}}
{{- $key := (get .root.ragplaneTopology .name | default dict).autoscalerExample -}}
{{- if and $a.enabled $ex.enabled $key (get $ex $key | default dict).enabled (include "ragplane.deployed" .) -}}true{{- end -}}
{{- end -}}

{{- define "ragplane.pdb" -}}
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: {{ include "ragplane.workloadName" . }}
  labels:
    {{- include "ragplane.labels" . | nindent 4 }}
spec:
  maxUnavailable: {{ (get .root.Values .name).pdb.maxUnavailable }}
  selector:
    matchLabels:
      {{- include "ragplane.selectorLabels" . | nindent 6 }}
{{- end -}}

{{- define "ragplane.hpa" -}}
{{- $block := get .root.Values .name -}}
{{- if gt (int $block.hpa.minReplicas) (int $block.hpa.maxReplicas) -}}
{{- fail (printf "%s.hpa.minReplicas (%v) must not exceed %s.hpa.maxReplicas (%v)" .name $block.hpa.minReplicas .name $block.hpa.maxReplicas) -}}
{{- end -}}
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: {{ include "ragplane.workloadName" . }}
  labels:
    {{- include "ragplane.labels" . | nindent 4 }}
spec:
  scaleTargetRef:
    apiVersion: apps/v1
    kind: {{ .kind }}
    name: {{ include "ragplane.workloadName" . }}
  minReplicas: {{ $block.hpa.minReplicas }}
  maxReplicas: {{ $block.hpa.maxReplicas }}
  metrics:
    - type: Resource
      resource:
        name: cpu
        target:
          type: Utilization
          averageUtilization: {{ $block.hpa.targetCPUUtilizationPercentage }}
{{- end -}}

{{/* ServiceMonitor for the port named `metrics` of the workload's Service(s). */}}
{{- define "ragplane.serviceMonitor" -}}
{{- $sm := .root.Values.global.metrics.serviceMonitor -}}
apiVersion: monitoring.coreos.com/v1
kind: ServiceMonitor
metadata:
  name: {{ include "ragplane.workloadName" . }}
  labels:
    {{- include "ragplane.labels" . | nindent 4 }}
    {{- with $sm.labels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
spec:
  selector:
    matchLabels:
      {{- include "ragplane.selectorLabels" . | nindent 6 }}
  namespaceSelector:
    matchNames: [{{ .root.Release.Namespace }}]
  endpoints:
    - port: metrics
      path: /metrics
      interval: {{ $sm.interval }}
      # The services label their own series with `service`; keep it instead of the target's Service name.
      honorLabels: true
{{- end -}}
