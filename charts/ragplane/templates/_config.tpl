{{/*
The settings of a ragplane container: plain settings as ConfigMap data (ragplane.configData, read with
envFrom) and the environment that comes from Secrets or the pod itself (ragplane.secretEnv). Each takes
dict "root" $ "name" <workload> unless it says otherwise.
*/}}

{{/* Where the client API keys are mounted when global.auth.apiKeys.mountAsFile (takes the root context). */}}
{{- define "ragplane.apiKeysPath" -}}
/etc/ragplane/api-keys/{{ .Values.global.auth.apiKeys.key }}
{{- end -}}

{{/*
The settings of a ragplane workload as ConfigMap data: listen addresses, common settings, the addresses of
its callees, its models, the external systems it uses, then the workload's own `env` strings (which win).
*/}}
{{- define "ragplane.configData" -}}
{{- $data := include "ragplane.config.common" . | fromYaml -}}
{{- $data = merge (include "ragplane.config.models" . | fromYaml) $data -}}
{{- $data = merge (include "ragplane.config.systems" . | fromYaml) $data -}}
{{- $data = merge (include "ragplane.config.tls" . | fromYaml) $data -}}
{{- range $key, $value := (get .root.Values .name).env -}}
{{- if not (kindIs "map" $value) -}}
{{- $_ := set $data $key ($value | toString) -}}
{{- end -}}
{{- end -}}
{{- toYaml $data -}}
{{- end -}}

{{/* Listen addresses, the release-wide settings (global) and the addresses of the workload's callees. */}}
{{- define "ragplane.config.common" -}}
{{- $root := .root -}}
{{- $g := .root.Values.global -}}
{{- include "ragplane.loadTopology" .root -}}
{{- $topo := get .root.ragplaneTopology .name -}}
{{- $data := dict -}}
{{- $_ := set $data "RAGPLANE_GRPC_LISTEN" (printf "0.0.0.0:%v" $topo.grpcPort) -}}
{{- $_ := set $data "RAGPLANE_METRICS_LISTEN" (printf "0.0.0.0:%v" $topo.metricsPort) -}}
{{- $_ := set $data "RAGPLANE_GRACE_PERIOD_S" ($g.gracePeriodSeconds | toString) -}}
{{- $_ := set $data "RAGPLANE_DEFAULT_DEADLINE_S" ($g.defaultDeadlineSeconds | toString) -}}
{{- $_ := set $data "RAGPLANE_GRPC_LB_POLICY" $g.grpc.lbPolicy -}}
{{- $_ := set $data "RAGPLANE_GRPC_KEEPALIVE_S" ($g.grpc.keepaliveSeconds | toString) -}}
{{- $_ := set $data "RAGPLANE_GRPC_DNS_REFRESH_S" ($g.grpc.dnsRefreshSeconds | toString) -}}
{{- $_ := set $data "RAGPLANE_GRPC_MAX_CONNECTION_AGE_S" ($g.grpc.maxConnectionAgeSeconds | toString) -}}
{{- $_ := set $data "RAGPLANE_GRPC_MAX_CONNECTION_AGE_GRACE_S" ($g.grpc.maxConnectionAgeGraceSeconds | toString) -}}
{{- $_ := set $data "RAGPLANE_LOG_LEVEL" $g.logLevel -}}
{{- $_ := set $data "RAGPLANE_LOG_CONTENT" ($g.logContent | toString) -}}
{{- $_ := set $data "RAGPLANE_ALLOW_DEV_KEY" ($g.auth.allowDevKey | toString) -}}
{{- /* tracing only where it goes somewhere: otlp without an endpoint is off (ragplane.tracing) */ -}}
{{- $_ := set $data "RAGPLANE_OTEL_EXPORTER" (ternary $g.otel.exporter "none" (include "ragplane.tracing" .root | eq "true")) -}}
{{- $_ := set $data "OTEL_SERVICE_NAME" .name -}}
{{- if and (eq $g.otel.exporter "otlp") (include "ragplane.tracing" .root) -}}
{{- $_ := set $data "OTEL_EXPORTER_OTLP_ENDPOINT" $g.otel.endpoint -}}
{{- end -}}
{{- range $callee := include "ragplane.callees" . | fromYamlArray -}}
{{- $_ := set $data (printf "RAGPLANE_%s_ADDR" (upper $callee)) (include "ragplane.peerAddress" (dict "root" $root "name" $callee)) -}}
{{- end -}}
{{- toYaml $data -}}
{{- end -}}

{{/*
Model settings, from the workload's topology flags: where its encoders run (its own CPU or GPU, or the v2
server), how a client of the LLM reaches it, the model name the LLM's clients and server agree on, and where
model files come from and go.
*/}}
{{- define "ragplane.config.models" -}}
{{- $v := .root.Values -}}
{{- $block := get $v .name -}}
{{- include "ragplane.loadTopology" .root -}}
{{- $topo := get .root.ragplaneTopology .name -}}
{{- $callsLLM := include "ragplane.callsLLM" . -}}
{{- $data := dict -}}
{{- if and $topo.modelEnv $callsLLM -}}
{{- /* encoders on the v2 inference server */ -}}
{{- $_ := set $data (printf "%s_BACKEND" $topo.modelEnv) "triton" -}}
{{- $_ := set $data (printf "%s_TRITON_URL" $topo.modelEnv) (include "ragplane.llmEndpoint" . | fromYaml).address -}}
{{- else if $topo.modelEnv -}}
{{- $_ := set $data (printf "%s_DEVICE" $topo.modelEnv) (ternary "cuda" "cpu" (gt (int $block.gpu.count) 0)) -}}
{{- else if or $callsLLM $topo.llmServer -}}
{{- /* the LLM server serves its model under the name its clients ask for */ -}}
{{- $_ := set $data "RAGPLANE_LLM_MODEL_NAME" $v.llm.modelName -}}
{{- with $v.llm.model }}{{ $_ := set $data "RAGPLANE_LLM_MODEL" . }}{{ end -}}
{{- end -}}
{{- if and $callsLLM (not $topo.modelEnv) -}}
{{- $_ := set $data "RAGPLANE_MODEL_ADDR" (include "ragplane.llmEndpoint" . | fromYaml).address -}}
{{- /* prompt budgets: a CPU server's small context, or a GPU server's (an external server is on GPUs) */ -}}
{{- $server := get .root.ragplaneTopology $v.llm.server | default dict -}}
{{- $_ := set $data "RAGPLANE_GENERATE_PROFILE" (ternary "cpu" "gpu" ($server.cpuServer | default false)) -}}
{{- end -}}
{{- if eq ($block.models | default dict).source "volume" -}}
{{- $_ := set $data "RAGPLANE_MODELS_DIR" $block.models.mountPath -}}
{{- end -}}
{{- if $topo.modelCache -}}
{{- /* the root filesystem is read-only: model files joined at start (about 1.1 GB for the 1.5B) go to /tmp */ -}}
{{- $_ := set $data "RAGPLANE_MODEL_CACHE" "/tmp/ragplane-models" -}}
{{- end -}}
{{- if $topo.cpuServer -}}
{{- with (($block.resources | default dict).requests | default dict).cpu -}}
{{- if or (kindIs "float64" .) (kindIs "int64" .) (kindIs "int" .) -}}
{{- /* llama.cpp threads = the CPUs the pod asked for (the container sees every CPU of the node) */ -}}
{{- $_ := set $data "RAGPLANE_LLM_THREADS" (max 1 (int .) | toString) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- toYaml $data -}}
{{- end -}}

{{/* Settings of the external systems the workload uses (their Secrets are in ragplane.secretEnv). */}}
{{- define "ragplane.config.systems" -}}
{{- $v := .root.Values -}}
{{- include "ragplane.loadTopology" .root -}}
{{- $uses := (get .root.ragplaneTopology .name).uses -}}
{{- $data := dict -}}
{{- if has "kafka" $uses -}}
{{- $data = include "ragplane.kafkaConfigData" .root | fromYaml -}}
{{- end -}}
{{- if and (has "redis" $uses) (not $v.redis.passwordSecret.name) -}}
{{- $_ := set $data "RAGPLANE_REDIS_URL" (required "redis.url must be set (redis://host:6379/0)" $v.redis.url) -}}
{{- end -}}
{{- if and (has "stateRedis" $uses) (not $v.stateRedis.passwordSecret.name) -}}
{{- $_ := set $data "RAGPLANE_STATE_REDIS_URL" (required (include "ragplane.stateRedisRequired" .root) $v.stateRedis.url) -}}
{{- end -}}
{{- if has "qdrant" $uses -}}
{{- $_ := set $data "RAGPLANE_QDRANT_URL" (required "qdrant.url must be set (http://host:6333 of the Qdrant server)" $v.qdrant.url) -}}
{{- /* the server, never the embedded store: it writes under ./data (read-only root) and is private to a replica */ -}}
{{- $_ := set $data "RAGPLANE_RETRIEVE_STORE" "qdrant" -}}
{{- $c := $v.qdrant.collection -}}
{{- if gt (int $c.writeConsistency) (int $c.replicationFactor) -}}
{{- fail (printf "qdrant.collection.writeConsistency (%v) must be at most qdrant.collection.replicationFactor (%v)" $c.writeConsistency $c.replicationFactor) -}}
{{- end -}}
{{- $_ := set $data "RAGPLANE_QDRANT_COLLECTION" $c.name -}}
{{- $_ := set $data "RAGPLANE_QDRANT_SHARDS" ($c.shards | toString) -}}
{{- $_ := set $data "RAGPLANE_QDRANT_REPLICATION_FACTOR" ($c.replicationFactor | toString) -}}
{{- $_ := set $data "RAGPLANE_QDRANT_WRITE_CONSISTENCY" ($c.writeConsistency | toString) -}}
{{- $_ := set $data "RAGPLANE_QDRANT_ON_DISK_PAYLOAD" ($c.onDiskPayload | toString) -}}
{{- $_ := set $data "RAGPLANE_QDRANT_WRITE_ORDERING" $c.writeOrdering -}}
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
{{- include "ragplane.loadTopology" .root -}}
{{- $topo := get .root.ragplaneTopology .name -}}
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
{{- /* required even with allowDevKey: a default token would let any client of a public service name any tenant */}}
- name: RAGPLANE_SERVICE_TOKEN
  valueFrom:
    secretKeyRef:
      name: {{ required "global.auth.serviceToken.secretName must be set: a Secret with a random service-to-service token of at least 32 characters (kubectl create secret generic ragplane-service-token --from-literal=token=$(openssl rand -hex 32))" $g.auth.serviceToken.secretName }}
      key: {{ $g.auth.serviceToken.key }}
{{- if not $topo.public }}
{{- /* internal services take only the service token; the empty value keeps the code's dev-key default out */}}
- name: RAGPLANE_API_KEYS
  value: ""
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
{{- if and (has "stateRedis" $topo.uses) $v.stateRedis.passwordSecret.name }}
- name: RAGPLANE_STATE_REDIS_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ $v.stateRedis.passwordSecret.name }}
      key: {{ $v.stateRedis.passwordSecret.key }}
- name: RAGPLANE_STATE_REDIS_URL
  value: {{ regexReplaceAll "^(rediss?://)" (required (include "ragplane.stateRedisRequired" .root) $v.stateRedis.url) "${1}:$(RAGPLANE_STATE_REDIS_PASSWORD)@" | quote }}
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

{{/* The message when stateRedis.url is missing: it must be a Redis that persists and never evicts. */}}
{{- define "ragplane.stateRedisRequired" -}}
stateRedis.url must be set (redis://host:6379/0): the Redis of ingest's document registry, with persistence (appendonly yes) and maxmemory-policy noeviction
{{- end -}}
