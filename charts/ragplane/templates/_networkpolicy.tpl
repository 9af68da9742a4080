{{/*
NetworkPolicy of one workload, derived from ragplane.topology: ingress only from the workloads that call it
(plus clients, and the gateway when it calls it, for the client-facing services) on its gRPC port and from
Prometheus on its metrics port; egress only to DNS, its callees, the LLM server, the external systems it uses
and the trace collector.
Both policy types are set, so whatever is not listed is denied. Call with dict "root" $ "name" <workload>.
*/}}
{{- define "ragplane.networkPolicy" -}}
{{- $root := .root -}}
{{- $v := .root.Values -}}
{{- $g := $v.global -}}
{{- $block := get $v .name -}}
{{- include "ragplane.loadTopology" .root -}}
{{- $topo := get .root.ragplaneTopology .name -}}
{{- $callers := include "ragplane.callers" . | fromYamlArray -}}
{{- $callees := include "ragplane.callees" . | fromYamlArray -}}
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: {{ include "ragplane.workloadName" . }}
  labels:
    {{- include "ragplane.labels" . | nindent 4 }}
spec:
  podSelector:
    matchLabels:
      {{- include "ragplane.selectorLabels" . | nindent 6 }}
  policyTypes: [Ingress, Egress]
  ingress:
    {{- if $topo.public }}
    # clients
    - ports:
        - {port: {{ $topo.grpcPort }}, protocol: TCP}
      {{- with $g.networkPolicy.clients.from }}
      from:
        {{- toYaml . | nindent 8 }}
      {{- end }}
    {{- end }}
    {{- if $callers }}
    # callers: {{ join ", " $callers }}
    - from:
        {{- range $callers }}
        - podSelector:
            matchLabels:
              {{- include "ragplane.selectorLabels" (dict "root" $root "name" .) | nindent 14 }}
        {{- end }}
      ports:
        - {port: {{ include "ragplane.callPort" $ }}, protocol: TCP}
    {{- end }}
    {{- if include "ragplane.gatewayCalls" . }}
    # the gateway: a client (its callers' API keys), on the client port
    - from:
        - podSelector:
            matchLabels:
              {{- include "ragplane.selectorLabels" (dict "root" $root "name" "gateway") | nindent 14 }}
      ports:
        - {port: {{ $topo.grpcPort }}, protocol: TCP}
    {{- end }}
    {{- if and $v.tests.enabled (has .name (include "ragplane.serviceNames" . | fromYamlArray)) }}
    # helm test: the health check Pods
    - from:
        - podSelector:
            matchLabels:
              {{- include "ragplane.testLabels" $root | nindent 14 }}
      ports:
        - {port: {{ $topo.grpcPort }}, protocol: TCP}
    {{- end }}
    # Prometheus
    - ports:
        - {port: {{ $topo.metricsPort }}, protocol: TCP}
      {{- with $g.networkPolicy.prometheus.from }}
      from:
        {{- toYaml . | nindent 8 }}
      {{- end }}
    {{- with $block.networkPolicy.extraIngress }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  egress:
    # DNS
    - to:
        {{- toYaml $g.networkPolicy.dns.to | nindent 8 }}
      ports:
        {{- toYaml $g.networkPolicy.dns.ports | nindent 8 }}
    {{- range $callees }}
    # callee: {{ . }}
    - to:
        - podSelector:
            matchLabels:
              {{- include "ragplane.selectorLabels" (dict "root" $root "name" .) | nindent 14 }}
      ports:
        - {port: {{ include "ragplane.callPort" (dict "root" $root "name" .) }}, protocol: TCP}
    {{- end }}
    {{- if include "ragplane.callsLLM" . }}
    {{- $llm := include "ragplane.llmEndpoint" . | fromYaml }}
    # the LLM server ({{ $v.llm.server }})
    - ports:
        - {port: {{ $llm.port }}, protocol: TCP}
      {{- if $llm.podLabels }}
      to:
        - podSelector:
            matchLabels:
              {{- toYaml $llm.podLabels | nindent 14 }}
      {{- end }}
    {{- end }}
    {{- range $system := list "kafka" "redis" "stateRedis" "qdrant" }}
    {{- if has $system $topo.uses }}
    {{- $np := (get $v $system).networkPolicy }}
    # {{ $system }}
    - ports:
        {{- range $np.ports }}
        - {port: {{ . }}, protocol: TCP}
        {{- end }}
      {{- with $np.to }}
      to:
        {{- toYaml . | nindent 8 }}
      {{- end }}
    {{- end }}
    {{- end }}
    {{- if and (eq $g.otel.exporter "otlp") (include "ragplane.tracing" $root) }}
    # trace collector
    - ports:
        {{- range $g.otel.networkPolicy.ports }}
        - {port: {{ . }}, protocol: TCP}
        {{- end }}
      {{- with $g.otel.networkPolicy.to }}
      to:
        {{- toYaml . | nindent 8 }}
      {{- end }}
    {{- end }}
    {{- $repo := $block.modelRepository | default dict }}
    {{- if eq $repo.source "objectStore" }}
    {{- $np := $repo.objectStore.networkPolicy }}
    # object store holding the model repository
    - ports:
        {{- range $np.ports }}
        - {port: {{ . }}, protocol: TCP}
        {{- end }}
      {{- with $np.to }}
      to:
        {{- toYaml . | nindent 8 }}
      {{- end }}
    {{- end }}
    {{- with $block.networkPolicy.extraEgress }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
{{- end -}}
