{{/*
Pod building blocks shared by every workload: security contexts, placement, resources (GPUs included),
probes, environment and volumes. Each takes dict "root" $ "name" <workload> unless it says otherwise.
*/}}

{{/* Pod security context: never root, whatever the values say; only the ids are configurable. */}}
{{- define "ragplane.podSecurityContext" -}}
{{- $block := get .root.Values .name | default dict -}}
{{- $ids := merge (deepCopy ($block.podSecurityContext | default dict)) .root.Values.global.podSecurityContext -}}
runAsNonRoot: true
runAsUser: {{ $ids.runAsUser }}
runAsGroup: {{ $ids.runAsGroup }}
fsGroup: {{ $ids.fsGroup }}
fsGroupChangePolicy: OnRootMismatch
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/* Container security context: read-only root filesystem, no privilege escalation, no capabilities. */}}
{{- define "ragplane.containerSecurityContext" -}}
runAsNonRoot: true
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
privileged: false
capabilities:
  drop: [ALL]
{{- end -}}

{{/*
Node pool placement from the workload's block. Without topologySpreadConstraints the pods are spread over
nodes where possible (never blocking scheduling).
*/}}
{{- define "ragplane.placement" -}}
{{- $block := get .root.Values .name -}}
{{- with $block.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $block.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $block.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
topologySpreadConstraints:
{{- if $block.topologySpreadConstraints }}
  {{- toYaml $block.topologySpreadConstraints | nindent 2 }}
{{- else }}
  - maxSkew: 1
    topologyKey: kubernetes.io/hostname
    whenUnsatisfiable: ScheduleAnyway
    labelSelector:
      matchLabels:
        {{- include "ragplane.selectorLabels" . | nindent 8 }}
{{- end }}
{{- with $block.priorityClassName }}
priorityClassName: {{ . }}
{{- end }}
{{- with .root.Values.global.image.pullSecrets }}
imagePullSecrets:
{{- range . }}
  - name: {{ . }}
{{- end }}
{{- end }}
{{- end -}}

{{/*
Container resources with the GPUs added as an extended resource (requests = limits, as Kubernetes requires):
dict "name" <workload> "resources" <map> "gpus" <int> "resourceName" <string>.
GPUs are declared in the workload's gpu block only; naming the GPU resource under resources is refused.
*/}}
{{- define "ragplane.resources" -}}
{{- $res := deepCopy (.resources | default dict) -}}
{{- range $section := list "requests" "limits" -}}
{{- if hasKey (get $res $section | default dict) $.resourceName -}}
{{- fail (printf "%s.resources.%s must not name %s: declare GPUs in the gpu block of %s" $.name $section $.resourceName $.name) -}}
{{- end -}}
{{- end -}}
{{- if gt (int .gpus) 0 -}}
{{- $_ := set $res "requests" (merge (dict .resourceName (int .gpus)) (get $res "requests" | default dict)) -}}
{{- $_ := set $res "limits" (merge (dict .resourceName (int .gpus)) (get $res "limits" | default dict)) -}}
{{- end -}}
{{- toYaml $res -}}
{{- end -}}

{{/* Native gRPC probes on the workload's gRPC port (grpc.health.v1), with a startup probe for model loads. */}}
{{- define "ragplane.grpcProbes" -}}
{{- $block := get .root.Values .name -}}
{{- $port := (get (include "ragplane.topology" . | fromYaml) .name).grpcPort -}}
startupProbe:
  grpc:
    port: {{ $port }}
  periodSeconds: {{ $block.probes.startup.periodSeconds }}
  failureThreshold: {{ $block.probes.startup.failureThreshold }}
  timeoutSeconds: 3
readinessProbe:
  grpc:
    port: {{ $port }}
  periodSeconds: {{ $block.probes.readiness.periodSeconds }}
  failureThreshold: {{ $block.probes.readiness.failureThreshold }}
  timeoutSeconds: 3
livenessProbe:
  grpc:
    port: {{ $port }}
  periodSeconds: {{ $block.probes.liveness.periodSeconds }}
  failureThreshold: {{ $block.probes.liveness.failureThreshold }}
  timeoutSeconds: 5
{{- end -}}

{{/* Kafka security protocol from the tls and sasl switches (one way to say it). */}}
{{- define "ragplane.kafkaSecurityProtocol" -}}
{{- $k := .Values.kafka -}}
{{- if and $k.tls.enabled $k.sasl.enabled -}}SASL_SSL
{{- else if $k.sasl.enabled -}}SASL_PLAINTEXT
{{- else if $k.tls.enabled -}}SSL
{{- else -}}PLAINTEXT
{{- end -}}
{{- end -}}

{{- define "ragplane.kafkaCAPath" -}}
/etc/ragplane/kafka-ca/{{ .Values.kafka.tls.caSecret.key }}
{{- end -}}

{{- define "ragplane.apiKeysPath" -}}
/etc/ragplane/api-keys/{{ .Values.global.auth.apiKeys.key }}
{{- end -}}

{{/* Kafka settings as ConfigMap data (the password travels separately, by Secret reference). */}}
{{- define "ragplane.kafkaConfigData" -}}
{{- $k := .Values.kafka -}}
RAGPLANE_KAFKA_BOOTSTRAP: {{ required "kafka.bootstrapServers must be set (host:port of the brokers, comma-separated)" $k.bootstrapServers | quote }}
RAGPLANE_KAFKA_SECURITY_PROTOCOL: {{ include "ragplane.kafkaSecurityProtocol" . | quote }}
RAGPLANE_KAFKA_PARTITIONS: {{ $k.topics.partitions | quote }}
{{- if $k.sasl.enabled }}
RAGPLANE_KAFKA_SASL_MECHANISM: {{ $k.sasl.mechanism | quote }}
RAGPLANE_KAFKA_SASL_USERNAME: {{ required "kafka.sasl.username must be set when kafka.sasl.enabled" $k.sasl.username | quote }}
{{- end }}
{{- if and $k.tls.enabled $k.tls.caSecret.name }}
RAGPLANE_KAFKA_SSL_CAFILE: {{ include "ragplane.kafkaCAPath" . | quote }}
{{- end }}
{{- end -}}

{{/* Kafka environment that comes from Secrets. */}}
{{- define "ragplane.kafkaSecretEnv" -}}
{{- $k := .Values.kafka -}}
{{- if $k.sasl.enabled }}
- name: RAGPLANE_KAFKA_SASL_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ required "kafka.sasl.passwordSecret.name must be set when kafka.sasl.enabled" $k.sasl.passwordSecret.name }}
      key: {{ $k.sasl.passwordSecret.key }}
{{- end }}
{{- end -}}

{{/*
The settings of a ragplane workload as ConfigMap data: listen addresses, common settings, the addresses of
its callees, the external systems it uses, then the workload's own `env` strings (which win).
*/}}
{{- define "ragplane.configData" -}}
{{- $root := .root -}}
{{- $v := .root.Values -}}
{{- $g := $v.global -}}
{{- $block := get $v .name -}}
{{- $topo := get (include "ragplane.topology" . | fromYaml) .name -}}
{{- $data := dict -}}
{{- $_ := set $data "RAGPLANE_GRPC_LISTEN" (printf "0.0.0.0:%v" $topo.grpcPort) -}}
{{- $_ := set $data "RAGPLANE_METRICS_LISTEN" (printf "0.0.0.0:%v" $topo.metricsPort) -}}
{{- $_ := set $data "RAGPLANE_GRACE_PERIOD_S" ($g.gracePeriodSeconds | toString) -}}
{{- $_ := set $data "RAGPLANE_DEFAULT_DEADLINE_S" ($g.defaultDeadlineSeconds | toString) -}}
{{- $_ := set $data "RAGPLANE_LOG_LEVEL" $g.logLevel -}}
{{- $_ := set $data "RAGPLANE_LOG_CONTENT" ($g.logContent | toString) -}}
{{- $_ := set $data "RAGPLANE_ALLOW_DEV_KEY" ($g.auth.allowDevKey | toString) -}}
{{- $_ := set $data "RAGPLANE_OTEL_EXPORTER" $g.otel.exporter -}}
{{- $_ := set $data "OTEL_SERVICE_NAME" .name -}}
{{- if eq $g.otel.exporter "otlp" -}}
{{- $_ := set $data "OTEL_EXPORTER_OTLP_ENDPOINT" (required "global.otel.endpoint must be set when global.otel.exporter is otlp" $g.otel.endpoint) -}}
{{- end -}}
{{- range $callee := include "ragplane.callees" . | fromYamlArray -}}
{{- $_ := set $data (printf "RAGPLANE_%s_ADDR" (upper $callee)) (include "ragplane.address" (dict "root" $root "name" $callee)) -}}
{{- end -}}
{{- if and $topo.modelEnv (include "ragplane.callsLLM" .) -}}
{{- /* encoders on the v2 inference server */ -}}
{{- $_ := set $data (printf "%s_BACKEND" $topo.modelEnv) "triton" -}}
{{- $_ := set $data (printf "%s_TRITON_URL" $topo.modelEnv) (include "ragplane.llmEndpoint" . | fromYaml).address -}}
{{- else if $topo.modelEnv -}}
{{- $_ := set $data (printf "%s_DEVICE" $topo.modelEnv) (ternary "cuda" "cpu" (gt (int $block.gpu.count) 0)) -}}
{{- else if include "ragplane.callsLLM" . -}}
{{- $llm := include "ragplane.llmEndpoint" . | fromYaml -}}
{{- $_ := set $data "RAGPLANE_MODEL_ADDR" $llm.address -}}
{{- $_ := set $data "RAGPLANE_LLM_MODEL_NAME" $v.llm.modelName -}}
{{- /* prompt budgets: the CPU model server's small context, or a GPU server's */ -}}
{{- $_ := set $data "RAGPLANE_GENERATE_PROFILE" (ternary "cpu" "gpu" (eq $v.llm.server "modelserver")) -}}
{{- with $v.llm.model }}{{ $_ := set $data "RAGPLANE_LLM_MODEL" . }}{{ end -}}
{{- else if eq .name "modelserver" -}}
{{- /* the model server serves its model under the name the clients ask for */ -}}
{{- $_ := set $data "RAGPLANE_LLM_MODEL_NAME" $v.llm.modelName -}}
{{- with $v.llm.model }}{{ $_ := set $data "RAGPLANE_LLM_MODEL" . }}{{ end -}}
{{- end -}}
{{- if has "kafka" $topo.uses -}}
{{- $data = merge (include "ragplane.kafkaConfigData" $root | fromYaml) $data -}}
{{- end -}}
{{- if and (has "redis" $topo.uses) (not $v.redis.passwordSecret.name) -}}
{{- $_ := set $data "RAGPLANE_REDIS_URL" (required "redis.url must be set (redis://host:6379/0)" $v.redis.url) -}}
{{- end -}}
{{- if has "qdrant" $topo.uses -}}
{{- $_ := set $data "RAGPLANE_QDRANT_URL" (required "qdrant.url must be set (http://host:6333 of the Qdrant server)" $v.qdrant.url) -}}
{{- end -}}
{{- if eq ($block.models | default dict).source "volume" -}}
{{- $_ := set $data "RAGPLANE_MODELS_DIR" $block.models.mountPath -}}
{{- end -}}
{{- if has .name (list "generate" "modelserver") -}}
{{- /* the root filesystem is read-only: model files joined at start (about 1.1 GB for the 1.5B) go to /tmp */ -}}
{{- $_ := set $data "RAGPLANE_MODEL_CACHE" "/tmp/ragplane-models" -}}
{{- end -}}
{{- if eq .name "modelserver" -}}
{{- with (($block.resources | default dict).requests | default dict).cpu -}}
{{- if or (kindIs "float64" .) (kindIs "int64" .) (kindIs "int" .) -}}
{{- /* llama.cpp threads = the CPUs the pod asked for (the container sees every CPU of the node) */ -}}
{{- $_ := set $data "RAGPLANE_LLM_THREADS" (max 1 (int .) | toString) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- range $key, $value := $block.env -}}
{{- if not (kindIs "map" $value) -}}
{{- $_ := set $data $key ($value | toString) -}}
{{- end -}}
{{- end -}}
{{- toYaml $data -}}
{{- end -}}

{{/*
Environment entries of a ragplane container: the pod's identity for OpenTelemetry, then everything that
comes from Secrets (by reference only), then the workload's `env` entries that use valueFrom.
*/}}
{{- define "ragplane.secretEnv" -}}
{{- $v := .root.Values -}}
{{- $g := $v.global -}}
{{- $block := get $v .name -}}
{{- $topo := get (include "ragplane.topology" . | fromYaml) .name -}}
- name: K8S_POD_NAME
  valueFrom:
    fieldRef:
      fieldPath: metadata.name
- name: K8S_NAMESPACE
  valueFrom:
    fieldRef:
      fieldPath: metadata.namespace
- name: K8S_NODE_NAME
  valueFrom:
    fieldRef:
      fieldPath: spec.nodeName
- name: OTEL_RESOURCE_ATTRIBUTES
  value: {{ printf "service.namespace=ragplane,k8s.namespace.name=$(K8S_NAMESPACE),k8s.pod.name=$(K8S_POD_NAME),k8s.node.name=$(K8S_NODE_NAME)%s" (ternary (printf ",%s" $g.otel.resourceAttributes) "" (ne $g.otel.resourceAttributes "")) | quote }}
{{- if $g.auth.serviceToken.secretName }}
- name: RAGPLANE_SERVICE_TOKEN
  valueFrom:
    secretKeyRef:
      name: {{ $g.auth.serviceToken.secretName }}
      key: {{ $g.auth.serviceToken.key }}
{{- else if not $g.auth.allowDevKey }}
{{- fail "global.auth.serviceToken.secretName must be set (a Secret with the service-to-service token), or set global.auth.allowDevKey for a throw-away cluster" }}
{{- end }}
{{- if $topo.public }}
{{- if $g.auth.apiKeys.secretName }}
- name: RAGPLANE_API_KEYS
{{- if $g.auth.apiKeys.mountAsFile }}
  value: {{ include "ragplane.apiKeysPath" .root | quote }}
{{- else }}
  valueFrom:
    secretKeyRef:
      name: {{ $g.auth.apiKeys.secretName }}
      key: {{ $g.auth.apiKeys.key }}
{{- end }}
{{- else if not $g.auth.allowDevKey }}
{{- fail "global.auth.apiKeys.secretName must be set (a Secret with the client API keys), or set global.auth.allowDevKey for a throw-away cluster" }}
{{- end }}
{{- end }}
{{- if has "kafka" $topo.uses }}
{{- include "ragplane.kafkaSecretEnv" .root }}
{{- end }}
{{- if and (has "redis" $topo.uses) $v.redis.passwordSecret.name }}
- name: RAGPLANE_REDIS_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ $v.redis.passwordSecret.name }}
      key: {{ $v.redis.passwordSecret.key }}
- name: RAGPLANE_REDIS_URL
  value: {{ regexReplaceAll "^(rediss?://)" (required "redis.url must be set (redis://host:6379/0)" $v.redis.url) "${1}:$(RAGPLANE_REDIS_PASSWORD)@" | quote }}
{{- end }}
{{- if and (has "qdrant" $topo.uses) $v.qdrant.apiKeySecret.name }}
- name: RAGPLANE_QDRANT_API_KEY
  valueFrom:
    secretKeyRef:
      name: {{ $v.qdrant.apiKeySecret.name }}
      key: {{ $v.qdrant.apiKeySecret.key }}
{{- end }}
{{- range $key, $value := $block.env }}
{{- if kindIs "map" $value }}
- name: {{ $key }}
  {{- toYaml $value | nindent 2 }}
{{- end }}
{{- end }}
{{- end -}}

{{/* Volumes of a ragplane pod: writable /tmp, mounted Secrets, models, and the block's extra volumes. */}}
{{- define "ragplane.volumes" -}}
{{- $v := .root.Values -}}
{{- $block := get $v .name -}}
{{- $topo := get (include "ragplane.topology" . | fromYaml) .name -}}
- name: tmp
  emptyDir:
    sizeLimit: 2Gi
{{- if and $topo.public $v.global.auth.apiKeys.secretName $v.global.auth.apiKeys.mountAsFile }}
- name: api-keys
  secret:
    secretName: {{ $v.global.auth.apiKeys.secretName }}
    items:
      - key: {{ $v.global.auth.apiKeys.key }}
        path: {{ $v.global.auth.apiKeys.key }}
{{- end }}
{{- if and (has "kafka" $topo.uses) $v.kafka.tls.enabled $v.kafka.tls.caSecret.name }}
- name: kafka-ca
  secret:
    secretName: {{ $v.kafka.tls.caSecret.name }}
    items:
      - key: {{ $v.kafka.tls.caSecret.key }}
        path: {{ $v.kafka.tls.caSecret.key }}
{{- end }}
{{- if eq $block.models.source "volume" }}
- name: models
  {{- if not $block.models.volume }}
  {{- fail (printf "%s.models.volume must be set when %s.models.source is volume (e.g. {persistentVolumeClaim: {claimName: models}})" .name .name) }}
  {{- end }}
  {{- toYaml $block.models.volume | nindent 2 }}
{{- end }}
{{- with $block.extraVolumes }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{- define "ragplane.volumeMounts" -}}
{{- $v := .root.Values -}}
{{- $block := get $v .name -}}
{{- $topo := get (include "ragplane.topology" . | fromYaml) .name -}}
- name: tmp
  mountPath: /tmp
{{- if and $topo.public $v.global.auth.apiKeys.secretName $v.global.auth.apiKeys.mountAsFile }}
- name: api-keys
  mountPath: /etc/ragplane/api-keys
  readOnly: true
{{- end }}
{{- if and (has "kafka" $topo.uses) $v.kafka.tls.enabled $v.kafka.tls.caSecret.name }}
- name: kafka-ca
  mountPath: /etc/ragplane/kafka-ca
  readOnly: true
{{- end }}
{{- if eq $block.models.source "volume" }}
- name: models
  mountPath: {{ $block.models.mountPath }}
  readOnly: true
{{- end }}
{{- with $block.extraVolumeMounts }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* Pod annotations: the config checksum (rolls pods on a settings change) and Prometheus discovery. */}}
{{- define "ragplane.podAnnotations" -}}
{{- $block := get .root.Values .name -}}
{{- $topo := get (include "ragplane.topology" . | fromYaml) .name -}}
{{- with .checksum }}
checksum/config: {{ . }}
{{- end }}
{{- if .root.Values.global.metrics.podAnnotations }}
prometheus.io/scrape: "true"
prometheus.io/port: {{ $topo.metricsPort | quote }}
prometheus.io/path: /metrics
{{- end }}
{{- with $block.podAnnotations }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* terminationGracePeriodSeconds: longer than the services' own drain (RAGPLANE_GRACE_PERIOD_S). */}}
{{- define "ragplane.terminationGrace" -}}
{{- add .Values.global.gracePeriodSeconds .Values.global.terminationGraceExtraSeconds -}}
{{- end -}}
