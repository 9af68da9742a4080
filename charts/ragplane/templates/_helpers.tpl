{{/*
Names, labels, images and the service topology every template shares.
*/}}

{{/* Release-wide name prefix: the release name, or <release>-ragplane when it does not say ragplane. */}}
{{- define "ragplane.fullname" -}}
{{- if contains "ragplane" .Release.Name -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-ragplane" .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/* Object name of a workload: dict "root" $ "name" "orchestrator". */}}
{{- define "ragplane.workloadName" -}}
{{- printf "%s-%s" (include "ragplane.fullname" .root) .name -}}
{{- end -}}

{{/* Labels that select a workload's pods; app.kubernetes.io/name is the workload's one name. */}}
{{- define "ragplane.selectorLabels" -}}
app.kubernetes.io/name: {{ .name }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
{{- end -}}

{{/* Labels of the `helm test` Pods (takes the root): the services' NetworkPolicies admit these on gRPC. */}}
{{- define "ragplane.testLabels" -}}
app.kubernetes.io/name: helm-test
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: test
{{- end -}}

{{/* Full labels: dict "root" $ "name" "orchestrator". */}}
{{- define "ragplane.labels" -}}
{{- include "ragplane.loadTopology" .root -}}
{{ include "ragplane.selectorLabels" . }}
app.kubernetes.io/component: {{ (get .root.ragplaneTopology .name | default dict).component | default .name }}
app.kubernetes.io/part-of: ragplane
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .root.Chart.Name .root.Chart.Version | replace "+" "_" }}
{{- end -}}

{{/*
The architecture, as data: ports, who calls whom, which external systems each workload uses, and which
services face clients. NetworkPolicies, service addresses and the environment are derived from it, so a
new call path is added here and nowhere else. The LLM server (modelserver, triton or external) is the
pseudo-callee "llm". modelEnv: the settings prefix of a workload whose encoders can run on a GPU
(<prefix>_DEVICE=cuda) or on the v2 server (remoteModels: <prefix>_BACKEND=triton, <prefix>_TRITON_URL).
grpcService: the gRPC service a client-facing workload serves (its GRPCRoute matches it).
The gateway serves HTTP (httpPort, no grpcPort) and calls the orchestrator and ingest as a client would, with its
callers' API keys on their client port: it is none of their internal callers (ragplane.callers) and has its own
templates (gateway.yaml, _gateway.tpl).
Flags the generic templates read instead of workload names:
  llmServer: one of the LLM servers; deployed when llm.server names it, called by every workload that calls
    the pseudo-callee llm, and serving the model under llm.modelName.
  modelCache: joins model files at start; they go to the writable /tmp (RAGPLANE_MODEL_CACHE).
  cpuServer: an LLM server on CPUs (llama.cpp, which sees every CPU of the node): RAGPLANE_LLM_THREADS = the
    CPUs requested, and its clients budget prompts for its small context (RAGPLANE_GENERATE_PROFILE=cpu).
  autoscalerExample: the key under autoscaler.examples of the RagAutoscaler that scales this workload.
Read it through ragplane.loadTopology, which parses it once per render.
*/}}
{{- define "ragplane.topology" -}}
orchestrator: {grpcPort: 50051, metricsPort: 9151, component: query, public: true, calls: [guardrail, embed, retrieve, rerank, generate], uses: [redis, kafka], grpcService: ragplane.v1.RagService}
ingest: {grpcPort: 50052, metricsPort: 9152, component: ingest, public: true, calls: [guardrail], uses: [stateRedis, kafka], grpcService: ragplane.v1.IngestService}
embed: {grpcPort: 50053, metricsPort: 9153, component: model, public: false, calls: [], uses: [kafka], modelEnv: RAGPLANE_EMBED, autoscalerExample: embed}
retrieve: {grpcPort: 50054, metricsPort: 9154, component: index, public: false, calls: [], uses: [kafka, qdrant], autoscalerExample: indexWriter}
rerank: {grpcPort: 50055, metricsPort: 9155, component: model, public: false, calls: [], uses: [], modelEnv: RAGPLANE_RERANK}
generate: {grpcPort: 50056, metricsPort: 9156, component: query, public: false, calls: [llm], uses: [], modelCache: true}
guardrail: {grpcPort: 50057, metricsPort: 9157, component: policy, public: false, calls: [], uses: []}
eval: {grpcPort: 50058, metricsPort: 9158, component: evaluation, public: true, calls: [orchestrator, ingest, retrieve, embed], uses: [kafka], grpcService: ragplane.v1.EvalService}
gateway: {httpPort: 8080, metricsPort: 9180, component: edge, public: true, calls: [orchestrator, ingest], uses: []}
modelserver: {grpcPort: 50070, metricsPort: 9170, component: llm, public: false, calls: [], uses: [], llmServer: true, modelCache: true, cpuServer: true}
triton: {grpcPort: 8001, httpPort: 8000, metricsPort: 8002, component: llm, public: false, calls: [], uses: [], llmServer: true, autoscalerExample: llm}
{{- end -}}

{{/*
Apply the size preset (ragplane.applyPreset) and parse the topology, once per render: every template of the
chart shares one root context, so the parsed map is kept there (as ragplaneTopology) for the helpers that follow. Call with the root, then read
.root.ragplaneTopology; a workload that is not in the topology (kafka-topics, autoscaler) has no entry.
*/}}
{{- define "ragplane.loadTopology" -}}
{{- include "ragplane.applyPreset" . -}}
{{- if not (hasKey . "ragplaneTopology") -}}
{{- $_ := set . "ragplaneTopology" (include "ragplane.topology" . | fromYaml) -}}
{{- end -}}
{{- end -}}

{{/* The eight services, in the order the architecture lists them. */}}
{{- define "ragplane.serviceNames" -}}
[orchestrator, ingest, embed, retrieve, rerank, generate, guardrail, eval]
{{- end -}}

{{/*
Whether a workload is deployed: "true" or "". A service is deployed when its block says enabled; an LLM server
when llm.server names it, and naming a disabled one is an error (generate would have no LLM).
*/}}
{{- define "ragplane.deployed" -}}
{{- include "ragplane.loadTopology" .root -}}
{{- if (get .root.ragplaneTopology .name | default dict).llmServer -}}
{{- if eq .root.Values.llm.server .name -}}
{{- if not (get .root.Values .name).enabled -}}
{{- fail (printf "llm.server is %s but %s.enabled is false: enable it, or set llm.server external with llm.externalAddress" .name .name) -}}
{{- end -}}
true
{{- end -}}
{{- else if (get .root.Values .name).enabled -}}true
{{- end -}}
{{- end -}}

{{/*
"true" when the services export traces: `console`, or `otlp` with global.otel.endpoint set. An OTLP exporter
without an endpoint would send to localhost and log an export error every few seconds, so it stays off.
*/}}
{{- define "ragplane.tracing" -}}
{{- $o := .Values.global.otel -}}
{{- if or (eq $o.exporter "console") (and (eq $o.exporter "otlp") $o.endpoint) -}}true{{- end -}}
{{- end -}}

{{/* Does this workload call the LLM server? generate always; embed and rerank with remoteModels. */}}
{{- define "ragplane.callsLLM" -}}
{{- include "ragplane.loadTopology" .root -}}
{{- $topo := get .root.ragplaneTopology .name -}}
{{- if has "llm" $topo.calls }}true
{{- else if and $topo.modelEnv (get .root.Values .name).remoteModels }}true
{{- end -}}
{{- end -}}

{{/* Deployed workloads this one calls (services only; the LLM is separate): a YAML list. */}}
{{- define "ragplane.callees" -}}
{{- $root := .root -}}
{{- include "ragplane.loadTopology" .root -}}
{{- $out := list -}}
{{- range $callee := (get .root.ragplaneTopology .name).calls -}}
{{- if and (ne $callee "llm") (include "ragplane.deployed" (dict "root" $root "name" $callee)) -}}
{{- $out = append $out $callee -}}
{{- end -}}
{{- end -}}
{{- toYaml $out -}}
{{- end -}}

{{/* Deployed workloads that call this one (an LLM server: those that call the LLM): a YAML list. */}}
{{- define "ragplane.callers" -}}
{{- $root := .root -}}
{{- $name := .name -}}
{{- include "ragplane.loadTopology" .root -}}
{{- $topology := .root.ragplaneTopology -}}
{{- $isLLM := (get $topology $name).llmServer -}}
{{- $out := list -}}
{{- range $caller := include "ragplane.serviceNames" . | fromYamlArray -}}
{{- $ctx := dict "root" $root "name" $caller -}}
{{- if include "ragplane.deployed" $ctx -}}
{{- if or (has $name (get $topology $caller).calls) (and $isLLM (include "ragplane.callsLLM" $ctx)) -}}
{{- $out = append $out $caller -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- toYaml $out -}}
{{- end -}}

{{/* host:port of a workload's gRPC endpoint inside the cluster. */}}
{{- define "ragplane.address" -}}
{{- include "ragplane.loadTopology" .root -}}
{{- $port := (get .root.ragplaneTopology .name).grpcPort -}}
{{- printf "%s.%s.svc:%v" (include "ragplane.workloadName" .) .root.Release.Namespace $port -}}
{{- end -}}

{{/*
The LLM endpoint as YAML: address (host:port), port, and podLabels (the pods to open the NetworkPolicy to;
empty for an external server).
*/}}
{{- define "ragplane.llmEndpoint" -}}
{{- $v := .root.Values -}}
{{- include "ragplane.loadTopology" .root -}}
{{- $server := get .root.ragplaneTopology $v.llm.server | default dict -}}
{{- if $server.llmServer -}}
{{- $ctx := dict "root" .root "name" $v.llm.server -}}
{{- /* the pods behind the server's headless Service (KServe's predictor pods too), balanced per call */}}
address: {{ include "ragplane.peerAddress" $ctx }}
port: {{ $server.grpcPort }}
podLabels: {{- include "ragplane.selectorLabels" $ctx | nindent 2 }}
{{- else -}}
{{- $addr := required "llm.externalAddress must be set (host:port of the v2 inference server) when llm.server is external" $v.llm.externalAddress -}}
{{- if not (regexMatch "^[^:]+:[0-9]+$" $addr) -}}
{{- fail (printf "llm.externalAddress must be host:port, but got %q" $addr) -}}
{{- end }}
address: {{ $addr }}
port: {{ regexReplaceAll "^.*:" $addr "" }}
podLabels: {}
{{- end -}}
{{- end -}}

{{/*
Image reference: dict "root" $ "name" "orchestrator" "image" .Values.orchestrator.image.
Repository defaults to <global.image.registry>/<name>, tag to global.image.tag, then the chart's appVersion.
*/}}
{{- define "ragplane.image" -}}
{{- $g := .root.Values.global.image -}}
{{- $repo := .image.repository | default (printf "%s/%s" (trimSuffix "/" $g.registry) .name) -}}
{{- $tag := .image.tag | default $g.tag | default .root.Chart.AppVersion | toString -}}
{{- if or (eq $tag "latest") (hasSuffix ":latest" $repo) -}}
{{- fail (printf "%s: the image tag must be a version, not latest (got %s:%s)" .name $repo $tag) -}}
{{- end -}}
{{- if .image.digest -}}
{{- printf "%s:%s@%s" $repo $tag .image.digest -}}
{{- else -}}
{{- printf "%s:%s" $repo $tag -}}
{{- end -}}
{{- end -}}
