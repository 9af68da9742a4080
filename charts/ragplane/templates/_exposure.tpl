{{/*
Exposure of the client-facing services (topology `public`) outside the cluster: the Service type
(<workload>.service.type: ClusterIP, NodePort or LoadBalancer), an Ingress (<workload>.ingress) and a Gateway API
GRPCRoute (<workload>.grpcRoute), or for the HTTP gateway an HTTPRoute (gateway.httpRoute). A Service of another
type than ClusterIP carries only the API port (gRPC, or the gateway's HTTP); the metrics
port then moves to a ClusterIP Service <workload>-metrics, so that Prometheus still finds it and the load
balancer never publishes it (the series carry tenant names). Each takes dict "root" $ "name" <workload>.
*/}}

{{/* "true" when the workload's Service is of another type than ClusterIP. */}}
{{- define "ragplane.exposedService" -}}
{{- $service := (get .root.Values .name).service | default dict -}}
{{- if ne ($service.type | default "ClusterIP") "ClusterIP" -}}true{{- end -}}
{{- end -}}

{{/* The ClusterIP Service of the metrics port of a workload whose main Service is exposed (empty otherwise). */}}
{{- define "ragplane.metricsService" -}}
{{- if include "ragplane.exposedService" . -}}
{{- include "ragplane.loadTopology" .root -}}
{{- $topo := get .root.ragplaneTopology .name -}}
apiVersion: v1
kind: Service
metadata:
  name: {{ include "ragplane.workloadName" . }}-metrics
  labels:
    {{- include "ragplane.labels" . | nindent 4 }}
spec:
  type: ClusterIP
  selector:
    {{- include "ragplane.selectorLabels" . | nindent 4 }}
  ports:
    - name: metrics
      port: {{ $topo.metricsPort }}
      targetPort: metrics
      protocol: TCP
      appProtocol: http
{{- end -}}
{{- end -}}

{{/*
The Ingress of a client-facing workload (ingress.enabled): every path of ingress.host to its API port (the port
named grpc, or http for the gateway).
*/}}
{{- define "ragplane.ingress" -}}
{{- $ingress := (get .root.Values .name).ingress | default dict -}}
{{- if $ingress.enabled -}}
{{- include "ragplane.loadTopology" .root -}}
{{- $topo := get .root.ragplaneTopology .name -}}
{{- $host := required (printf "%s.ingress.host must be set when %s.ingress.enabled" .name .name) $ingress.host -}}
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: {{ include "ragplane.workloadName" . }}
  labels:
    {{- include "ragplane.labels" . | nindent 4 }}
  {{- with $ingress.annotations }}
  annotations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
spec:
  {{- with $ingress.className }}
  ingressClassName: {{ . }}
  {{- end }}
  {{- with $ingress.tls.secretName }}
  tls:
    - hosts: [{{ $host | quote }}]
      secretName: {{ . }}
  {{- end }}
  rules:
    - host: {{ $host | quote }}
      http:
        paths:
          - path: /
            pathType: Prefix
            backend:
              service:
                name: {{ include "ragplane.workloadName" . }}
                port:
                  name: {{ ternary "http" "grpc" (hasKey $topo "httpPort") }}
{{- end -}}
{{- end -}}

{{/*
The GRPCRoute of a client-facing workload (grpcRoute.enabled): calls to its gRPC service (e.g.
ragplane.v1.RagService) on the given Gateway listeners go to its Service, so the orchestrator and ingest can
share one hostname.
*/}}
{{- define "ragplane.grpcRoute" -}}
{{- $route := (get .root.Values .name).grpcRoute | default dict -}}
{{- if $route.enabled -}}
{{- include "ragplane.loadTopology" .root -}}
{{- $topo := get .root.ragplaneTopology .name -}}
{{- if not $route.parentRefs -}}
{{- fail (printf "%s.grpcRoute.parentRefs must name at least one Gateway when %s.grpcRoute.enabled" .name .name) -}}
{{- end -}}
apiVersion: gateway.networking.k8s.io/v1
kind: GRPCRoute
metadata:
  name: {{ include "ragplane.workloadName" . }}
  labels:
    {{- include "ragplane.labels" . | nindent 4 }}
  {{- with $route.annotations }}
  annotations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
spec:
  parentRefs:
    {{- toYaml $route.parentRefs | nindent 4 }}
  {{- with $route.hostnames }}
  hostnames:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  rules:
    - matches:
        - method:
            type: Exact
            service: {{ $topo.grpcService }}
      backendRefs:
        - name: {{ include "ragplane.workloadName" . }}
          port: {{ $topo.grpcPort }}
{{- end -}}
{{- end -}}

{{/*
The HTTPRoute of the gateway (gateway.httpRoute.enabled): every request on the given Gateway listeners goes to
its Service's HTTP port.
*/}}
{{- define "ragplane.httpRoute" -}}
{{- $route := (get .root.Values .name).httpRoute | default dict -}}
{{- if $route.enabled -}}
{{- include "ragplane.loadTopology" .root -}}
{{- $topo := get .root.ragplaneTopology .name -}}
{{- if not $route.parentRefs -}}
{{- fail (printf "%s.httpRoute.parentRefs must name at least one Gateway when %s.httpRoute.enabled" .name .name) -}}
{{- end -}}
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: {{ include "ragplane.workloadName" . }}
  labels:
    {{- include "ragplane.labels" . | nindent 4 }}
  {{- with $route.annotations }}
  annotations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
spec:
  parentRefs:
    {{- toYaml $route.parentRefs | nindent 4 }}
  {{- with $route.hostnames }}
  hostnames:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  rules:
    - matches:
        - path:
            type: PathPrefix
            value: /
      backendRefs:
        - name: {{ include "ragplane.workloadName" . }}
          port: {{ $topo.httpPort }}
{{- end -}}
{{- end -}}
