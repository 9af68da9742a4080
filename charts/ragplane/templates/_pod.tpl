{{/*
Pod lifecycle: annotations (config checksum, Prometheus discovery), gRPC health probes and the termination
grace period. Each takes dict "root" $ "name" <workload> unless it says otherwise.
*/}}

{{/* Pod annotations: the config checksum (rolls pods on a settings change) and Prometheus discovery. */}}
{{- define "ragplane.podAnnotations" -}}
{{- $block := get .root.Values .name -}}
{{- include "ragplane.loadTopology" .root -}}
{{- $topo := get .root.ragplaneTopology .name -}}
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

{{/*
Native gRPC probes (grpc.health.v1), with a startup probe for model loads: on the gRPC port, or under TLS on the
plaintext health-only port (kubelet's gRPC probe speaks no TLS; ragplane.probePort in _tls.tpl).
*/}}
{{- define "ragplane.grpcProbes" -}}
{{- $block := get .root.Values .name -}}
{{- $port := include "ragplane.probePort" . -}}
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
