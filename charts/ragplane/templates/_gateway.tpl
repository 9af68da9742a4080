{{/*
The gateway: the HTTP edge (OpenAI-compatible chat completions, REST for documents and search). It serves HTTP
on its httpPort (HTTPS under global.tls, with its own certificate Secret like a service's) and calls the
orchestrator and ingest over gRPC as a client: every call carries the caller's own API key, on the services'
client port (never their internal port, which is for the service token). It holds no credentials and no
state. Each takes dict "root" $ (and "name" "gateway" where it says so).
*/}}

{{/* "true" when the gateway is deployed and calls this workload: dict "root" $ "name" <workload>. */}}
{{- define "ragplane.gatewayCalls" -}}
{{- include "ragplane.loadTopology" .root -}}
{{- $gateway := dict "root" .root "name" "gateway" -}}
{{- if and (include "ragplane.deployed" $gateway) (has .name (get .root.ragplaneTopology "gateway").calls) -}}true{{- end -}}
{{- end -}}

{{/*
The gateway's address of a service it calls: the headless Service (every ready pod, balanced per call) on the
service's client port: dict "root" $ "name" <workload>.
*/}}
{{- define "ragplane.gateway.upstream" -}}
{{- include "ragplane.loadTopology" .root -}}
{{- $port := (get .root.ragplaneTopology .name).grpcPort -}}
{{- printf "dns:///%s.%s.svc:%v" (include "ragplane.headlessName" .) .root.Release.Namespace $port -}}
{{- end -}}

{{/*
The gateway's settings as ConfigMap data: the release-wide ones every workload gets (ragplane.config.common),
its HTTP listen address instead of a gRPC one, the client ports of the services it calls, under global.tls its
certificate (HTTPS) and the CA that verifies the services, then its `env` strings (which win).
dict "root" $ "name" "gateway".
*/}}
{{- define "ragplane.gateway.config" -}}
{{- $root := .root -}}
{{- $topo := get .root.ragplaneTopology "gateway" -}}
{{- $data := include "ragplane.config.common" . | fromYaml -}}
{{- $_ := unset $data "RAGPLANE_GRPC_LISTEN" -}}
{{- $_ := set $data "RAGPLANE_GATEWAY_LISTEN" (printf "0.0.0.0:%v" $topo.httpPort) -}}
{{- range $upstream := $topo.calls -}}
{{- $ctx := dict "root" $root "name" $upstream -}}
{{- if include "ragplane.deployed" $ctx -}}
{{- $_ := set $data (printf "RAGPLANE_%s_ADDR" (upper $upstream)) (include "ragplane.gateway.upstream" $ctx) -}}
{{- end -}}
{{- end -}}
{{- if include "ragplane.tlsOn" . -}}
{{- $_ := set $data "RAGPLANE_TLS_CERT_FILE" "/etc/ragplane/tls/tls.crt" -}}
{{- $_ := set $data "RAGPLANE_TLS_KEY_FILE" "/etc/ragplane/tls/tls.key" -}}
{{- $_ := set $data "RAGPLANE_TLS_CA_FILE" "/etc/ragplane/tls/ca.crt" -}}
{{- end -}}
{{- range $key, $value := .root.Values.gateway.env -}}
{{- if not (kindIs "map" $value) -}}
{{- $_ := set $data $key ($value | toString) -}}
{{- end -}}
{{- end -}}
{{- toYaml $data -}}
{{- end -}}

{{/*
The gateway's volumes: a writable /tmp, its certificate Secret under global.tls (ragplane.tlsVolume: tls.crt and
tls.key for HTTPS, ca.crt to verify the services), and the block's extra volumes. ragplane.gateway.volumeMounts
mounts them. dict "root" $ "name" "gateway".
*/}}
{{- define "ragplane.gateway.volumes" -}}
{{- $block := .root.Values.gateway -}}
- name: tmp
  emptyDir:
    sizeLimit: 256Mi
{{- include "ragplane.tlsVolume" . }}
{{- with $block.extraVolumes }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{- define "ragplane.gateway.volumeMounts" -}}
- name: tmp
  mountPath: /tmp
{{- include "ragplane.tlsVolumeMount" . }}
{{- with .root.Values.gateway.extraVolumeMounts }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/*
HTTP probes: startup and liveness on /healthz (the process serves HTTP), readiness on /readyz (the orchestrator
and ingest answer their health checks with SERVING), so a gateway that cannot reach them gets no traffic. HTTPS
under global.tls (the kubelet does not verify the certificate).
*/}}
{{- define "ragplane.gateway.probes" -}}
{{- $probes := .root.Values.gateway.probes -}}
{{- $scheme := ternary "HTTPS" "HTTP" (eq (include "ragplane.tlsOn" .) "true") -}}
startupProbe:
  httpGet: {path: /healthz, port: http, scheme: {{ $scheme }}}
  periodSeconds: {{ $probes.startup.periodSeconds }}
  failureThreshold: {{ $probes.startup.failureThreshold }}
  timeoutSeconds: 3
readinessProbe:
  httpGet: {path: /readyz, port: http, scheme: {{ $scheme }}}
  periodSeconds: {{ $probes.readiness.periodSeconds }}
  failureThreshold: {{ $probes.readiness.failureThreshold }}
  timeoutSeconds: 3
livenessProbe:
  httpGet: {path: /healthz, port: http, scheme: {{ $scheme }}}
  periodSeconds: {{ $probes.liveness.periodSeconds }}
  failureThreshold: {{ $probes.liveness.failureThreshold }}
  timeoutSeconds: 5
{{- end -}}

{{/*
The gateway's NetworkPolicy: ingress from clients (global.networkPolicy.clients.from, as for the gRPC services
clients call), the `helm test` Pods and Prometheus; egress to DNS, the client ports of the orchestrator and
ingest, and the trace collector. dict "root" $ "name" "gateway".
*/}}
{{- define "ragplane.gateway.networkPolicy" -}}
{{- $root := .root -}}
{{- $v := .root.Values -}}
{{- $g := $v.global -}}
{{- $topo := get .root.ragplaneTopology "gateway" -}}
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
    # clients
    - ports:
        - {port: {{ $topo.httpPort }}, protocol: TCP}
      {{- with $g.networkPolicy.clients.from }}
      from:
        {{- toYaml . | nindent 8 }}
      {{- end }}
    {{- if $v.tests.enabled }}
    # helm test: the health check Pod
    - from:
        - podSelector:
            matchLabels:
              {{- include "ragplane.testLabels" $root | nindent 14 }}
      ports:
        - {port: {{ $topo.httpPort }}, protocol: TCP}
    {{- end }}
    # Prometheus
    - ports:
        - {port: {{ $topo.metricsPort }}, protocol: TCP}
      {{- with $g.networkPolicy.prometheus.from }}
      from:
        {{- toYaml . | nindent 8 }}
      {{- end }}
    {{- with $v.gateway.networkPolicy.extraIngress }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  egress:
    # DNS
    - to:
        {{- toYaml $g.networkPolicy.dns.to | nindent 8 }}
      ports:
        {{- toYaml $g.networkPolicy.dns.ports | nindent 8 }}
    {{- range $upstream := $topo.calls }}
    {{- $ctx := dict "root" $root "name" $upstream }}
    {{- if include "ragplane.deployed" $ctx }}
    # {{ $upstream }}, on its client port
    - to:
        - podSelector:
            matchLabels:
              {{- include "ragplane.selectorLabels" $ctx | nindent 14 }}
      ports:
        - {port: {{ (get $root.ragplaneTopology $upstream).grpcPort }}, protocol: TCP}
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
    {{- with $v.gateway.networkPolicy.extraEgress }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
{{- end -}}
