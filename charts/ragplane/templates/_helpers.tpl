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

{{/* Full labels: dict "root" $ "name" "orchestrator". */}}
{{- define "ragplane.labels" -}}
{{ include "ragplane.selectorLabels" . }}
app.kubernetes.io/component: {{ (get (include "ragplane.topology" . | fromYaml) .name | default dict).component | default .name }}
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
*/}}
{{- define "ragplane.topology" -}}
orchestrator: {grpcPort: 50051, metricsPort: 9151, component: query, public: true, calls: [guardrail, embed, retrieve, rerank, generate], uses: [redis, kafka]}
ingest: {grpcPort: 50052, metricsPort: 9152, component: ingest, public: true, calls: [guardrail], uses: [redis, kafka]}
embed: {grpcPort: 50053, metricsPort: 9153, component: model, public: false, calls: [], uses: [kafka], modelEnv: RAGPLANE_EMBED}
retrieve: {grpcPort: 50054, metricsPort: 9154, component: index, public: false, calls: [], uses: [kafka, qdrant]}
rerank: {grpcPort: 50055, metricsPort: 9155, component: model, public: false, calls: [], uses: [], modelEnv: RAGPLANE_RERANK}
generate: {grpcPort: 50056, metricsPort: 9156, component: query, public: false, calls: [llm], uses: []}
guardrail: {grpcPort: 50057, metricsPort: 9157, component: policy, public: false, calls: [], uses: []}
eval: {grpcPort: 50058, metricsPort: 9158, component: evaluation, public: true, calls: [orchestrator, ingest, retrieve, embed], uses: [kafka]}
modelserver: {grpcPort: 50070, metricsPort: 9170, component: llm, public: false, calls: [], uses: []}
triton: {grpcPort: 8001, httpPort: 8000, metricsPort: 8002, component: llm, public: false, calls: [], uses: []}
{{- end -}}

{{/* The eight services, in the order the architecture lists them. */}}
{{- define "ragplane.serviceNames" -}}
[orchestrator, ingest, embed, retrieve, rerank, generate, guardrail, eval]
{{- end -}}

{{/* Whether a workload is deployed: "true" or "". */}}
{{- define "ragplane.deployed" -}}
{{- $v := .root.Values -}}
{{- if eq .name "modelserver" -}}{{- if eq $v.llm.server "modelserver" }}true{{ end -}}
{{- else if eq .name "triton" -}}{{- if eq $v.llm.server "triton" }}true{{ end -}}
{{- else if (get $v .name).enabled -}}true
{{- end -}}
{{- end -}}

{{/* Does this workload call the LLM server? generate always; embed and rerank with remoteModels. */}}
{{- define "ragplane.callsLLM" -}}
{{- $topo := get (include "ragplane.topology" . | fromYaml) .name -}}
{{- if has "llm" $topo.calls }}true
{{- else if and $topo.modelEnv (get .root.Values .name).remoteModels }}true
{{- end -}}
{{- end -}}

{{/* Deployed workloads this one calls (services only; the LLM is separate): a YAML list. */}}
{{- define "ragplane.callees" -}}
{{- $root := .root -}}
{{- $topo := get (include "ragplane.topology" . | fromYaml) .name -}}
{{- $out := list -}}
{{- range $callee := $topo.calls -}}
{{- if and (ne $callee "llm") (include "ragplane.deployed" (dict "root" $root "name" $callee)) -}}
{{- $out = append $out $callee -}}
{{- end -}}
{{- end -}}
{{- toYaml $out -}}
{{- end -}}

{{/* Deployed workloads that call this one: a YAML list. */}}
{{- define "ragplane.callers" -}}
{{- $root := .root -}}
{{- $name := .name -}}
{{- $topology := include "ragplane.topology" . | fromYaml -}}
{{- $out := list -}}
{{- range $caller := include "ragplane.serviceNames" . | fromYamlArray -}}
{{- if include "ragplane.deployed" (dict "root" $root "name" $caller) -}}
{{- $topo := get $topology $caller -}}
{{- if or (has $name $topo.calls) (and (has $name (list "modelserver" "triton")) (include "ragplane.callsLLM" (dict "root" $root "name" $caller))) -}}
{{- $out = append $out $caller -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- toYaml $out -}}
{{- end -}}

{{/* host:port of a workload's gRPC endpoint inside the cluster. */}}
{{- define "ragplane.address" -}}
{{- $topo := get (include "ragplane.topology" . | fromYaml) .name -}}
{{- printf "%s.%s.svc:%v" (include "ragplane.workloadName" .) .root.Release.Namespace $topo.grpcPort -}}
{{- end -}}

{{/*
The LLM endpoint as YAML: address (host:port), port, and podLabels (the pods to open the NetworkPolicy to;
empty for an external server).
*/}}
{{- define "ragplane.llmEndpoint" -}}
{{- $v := .root.Values -}}
{{- $root := .root -}}
{{- if eq $v.llm.server "modelserver" -}}
address: {{ include "ragplane.address" (dict "root" $root "name" "modelserver") }}
port: 50070
podLabels: {{- include "ragplane.selectorLabels" (dict "root" $root "name" "modelserver") | nindent 2 }}
{{- else if eq $v.llm.server "triton" -}}
{{- if $v.triton.kserve.enabled -}}
{{/* KServe's raw-deployment Service maps port 80 to the first container port (Triton's gRPC). */}}
address: {{ printf "%s-predictor.%s.svc:80" (include "ragplane.workloadName" (dict "root" $root "name" "triton")) $root.Release.Namespace }}
{{- else -}}
address: {{ include "ragplane.address" (dict "root" $root "name" "triton") }}
{{- end }}
port: 8001
podLabels: {{- include "ragplane.selectorLabels" (dict "root" $root "name" "triton") | nindent 2 }}
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

{{/*
The topics as JSON: {"<topic>": {"partitions": n, "replicationFactor": n, "retentionMs": n}}, the event topics
and their dead-letter topics (<topic>.dlq), with kafka.topics.overrides applied per topic.
*/}}
{{- define "ragplane.topicSpec" -}}
{{- $t := .Values.kafka.topics -}}
{{- $spec := dict -}}
{{- range $base := list "ragplane.chunks.v1" "ragplane.vectors.v1" "ragplane.indexed.v1" "ragplane.answers.v1" "ragplane.feedback.v1" "ragplane.evals.v1" -}}
{{- range $topic := list $base (printf "%s.dlq" $base) -}}
{{- $want := dict "partitions" (int $t.partitions) "replicationFactor" (int $t.replicationFactor) "retentionMs" (int64 (ternary $t.dlqRetentionMs $t.retentionMs (hasSuffix ".dlq" $topic))) -}}
{{- $over := get $t.overrides $topic | default dict -}}
{{- range $key := list "partitions" "replicationFactor" "retentionMs" -}}
{{- if hasKey $over $key -}}
{{- $_ := set $want $key (int64 (get $over $key)) -}}
{{- end -}}
{{- end -}}
{{- $_ := set $spec $topic $want -}}
{{- end -}}
{{- end -}}
{{- range $topic := keys $t.overrides -}}
{{- if not (hasKey $spec $topic) -}}
{{- fail (printf "kafka.topics.overrides: %s is not a ragplane topic (%s)" $topic (keys $spec | sortAlpha | join ", ")) -}}
{{- end -}}
{{- end -}}
{{- toJson $spec -}}
{{- end -}}

{{/*
"true" when one of the example RagAutoscalers (autoscaler.examples) scales this workload: the chart then leaves
spec.replicas unset, so that a helm upgrade does not reset the count the operator chose.
Usage: include "ragplane.ragAutoscaled" (dict "root" $ "name" "embed")
*/}}
{{- define "ragplane.ragAutoscaled" -}}
{{- $a := .root.Values.autoscaler | default dict -}}
{{- $ex := $a.examples | default dict -}}
{{- $key := get (dict "embed" "embed" "retrieve" "indexWriter" "triton" "llm") .name -}}
{{- if and $a.enabled $ex.enabled $key (get $ex $key | default dict).enabled -}}
{{- if or (ne .name "triton") (eq .root.Values.llm.server "triton") -}}true{{- end -}}
{{- end -}}
{{- end -}}
