{{/*
TLS between the chart's workloads (global.tls). Every ragplane gRPC listener serves TLS with a certificate from
a Secret (kubernetes.io/tls with ca.crt: cert-manager writes that shape), mounted read-only at /etc/ragplane/tls
and re-read by the services when the Secret is renewed; every channel verifies its peer with ca.crt.

With global.tls.mutual the internal services require a client certificate signed by that CA, and the service
token counts only from such a caller. The client-facing services (orchestrator, ingest, eval) keep their port
for users, who have no certificate, and serve the other workloads on an internal port (grpc port + 1000) with
mutual TLS; callers are pointed there. Kubelet's gRPC probes speak no TLS, so with TLS on the probes use a
plaintext port (grpc port + 2000) that serves grpc.health.v1 and nothing else.
Each takes dict "root" $ "name" <workload> unless it says otherwise.
*/}}

{{/*
"true" when the workload's gRPC listeners serve TLS with ragplane's settings: the services and the CPU model
server (ragplane's own); Triton takes its own flags (ragplane.triton.tlsArgs, ragplane.mountsCertificate).
*/}}
{{- define "ragplane.tlsOn" -}}
{{- include "ragplane.loadTopology" .root -}}
{{- $topo := get .root.ragplaneTopology .name | default dict -}}
{{- if and .root.Values.global.tls.enabled (or (not $topo.llmServer) $topo.cpuServer) -}}true{{- end -}}
{{- end -}}

{{/*
"true" when the LLM server the chart deploys serves TLS on its v2 gRPC port, so that its callers verify it
(RAGPLANE_MODEL_SERVER_TLS): with global.tls, the CPU model server (ragplane's own) always, another server
(Triton) unless its block says tls.enabled false. An external server (llm.externalAddress) is not the chart's:
its callers' env says. Takes the root.
*/}}
{{- define "ragplane.llmServerTLS" -}}
{{- include "ragplane.loadTopology" . -}}
{{- $v := .Values -}}
{{- $server := get .ragplaneTopology $v.llm.server | default dict -}}
{{- if and $v.global.tls.enabled $server.llmServer -}}
{{- if or $server.cpuServer ((get $v $v.llm.server).tls | default dict).enabled -}}true{{- end -}}
{{- end -}}
{{- end -}}

{{/*
tritonserver's flags for TLS on its gRPC port when ragplane.llmServerTLS (dict "root" $): the certificate
mounted by ragplane.tlsVolume, the client certificate required under global.tls.mutual. Triton has no TLS for
its HTTP and metrics ports; they stay plain (the probes use HTTP).
*/}}
{{- define "ragplane.triton.tlsArgs" -}}
{{- if include "ragplane.llmServerTLS" .root }}
- --grpc-use-ssl=true
- --grpc-server-cert=/etc/ragplane/tls/tls.crt
- --grpc-server-key=/etc/ragplane/tls/tls.key
- --grpc-root-cert=/etc/ragplane/tls/ca.crt
{{- if .root.Values.global.tls.mutual }}
- --grpc-use-ssl-mutual=true
{{- end }}
{{- end }}
{{- end -}}

{{/*
"true" when the workload mounts its certificate Secret: it serves TLS with ragplane's settings (ragplane.tlsOn),
or it is the deployed LLM server and serves TLS (ragplane.llmServerTLS: Triton, with its own flags).
*/}}
{{- define "ragplane.mountsCertificate" -}}
{{- include "ragplane.loadTopology" .root -}}
{{- $topo := get .root.ragplaneTopology .name | default dict -}}
{{- $llm := and $topo.llmServer (include "ragplane.deployed" .) (include "ragplane.llmServerTLS" .root) -}}
{{- if or (include "ragplane.tlsOn" .) $llm -}}true{{- end -}}
{{- end -}}

{{/* The plaintext health-only port of a workload under TLS (its probes' port). */}}
{{- define "ragplane.healthPort" -}}
{{- include "ragplane.loadTopology" .root -}}
{{- add (get .root.ragplaneTopology .name).grpcPort 2000 -}}
{{- end -}}

{{/* The internal (mutual TLS) port of a client-facing workload. */}}
{{- define "ragplane.internalPort" -}}
{{- include "ragplane.loadTopology" .root -}}
{{- add (get .root.ragplaneTopology .name).grpcPort 1000 -}}
{{- end -}}

{{/* "true" when the workload serves its internal callers on the internal port (client-facing, mutual TLS). */}}
{{- define "ragplane.hasInternalPort" -}}
{{- include "ragplane.loadTopology" .root -}}
{{- $t := .root.Values.global.tls -}}
{{- if and (include "ragplane.tlsOn" .) $t.mutual (get .root.ragplaneTopology .name).public -}}true{{- end -}}
{{- end -}}

{{/* The port other workloads call the workload on: the internal port when it has one, else the gRPC port. */}}
{{- define "ragplane.callPort" -}}
{{- include "ragplane.loadTopology" .root -}}
{{- if include "ragplane.hasInternalPort" . -}}
{{- include "ragplane.internalPort" . -}}
{{- else -}}
{{- (get .root.ragplaneTopology .name).grpcPort -}}
{{- end -}}
{{- end -}}

{{/* The port of the probes: the health-only port under TLS, else the gRPC port. */}}
{{- define "ragplane.probePort" -}}
{{- include "ragplane.loadTopology" .root -}}
{{- if include "ragplane.tlsOn" . -}}
{{- include "ragplane.healthPort" . -}}
{{- else -}}
{{- (get .root.ragplaneTopology .name).grpcPort -}}
{{- end -}}
{{- end -}}

{{/*
The Secret holding the workload's certificate: global.tls.secrets.<name>, else global.tls.secretName (one
certificate for every workload, e.g. a wildcard for *.<namespace>.svc), else the Secret of the chart's own
Certificate (global.tls.certManager).
*/}}
{{- define "ragplane.tlsSecret" -}}
{{- $t := .root.Values.global.tls -}}
{{- $own := get ($t.secrets | default dict) .name -}}
{{- if $own -}}
{{- $own -}}
{{- else if $t.secretName -}}
{{- $t.secretName -}}
{{- else if $t.certManager.enabled -}}
{{- printf "%s-tls" (include "ragplane.workloadName" .) -}}
{{- else -}}
{{- fail "global.tls.enabled needs certificates: set global.tls.secretName (a kubernetes.io/tls Secret with ca.crt), global.tls.secrets.<workload>, or global.tls.certManager.enabled with an issuerRef" -}}
{{- end -}}
{{- end -}}

{{/*
TLS settings as ConfigMap data: paths of the mounted Secret, listeners, client authentication, and the CA files
of the stores the workload uses (redis.caSecret, stateRedis.caSecret, qdrant.caSecret).
*/}}
{{- define "ragplane.config.tls" -}}
{{- if include "ragplane.tlsOn" . -}}
{{- $t := .root.Values.global.tls -}}
RAGPLANE_TLS_CERT_FILE: /etc/ragplane/tls/tls.crt
RAGPLANE_TLS_KEY_FILE: /etc/ragplane/tls/tls.key
RAGPLANE_TLS_CA_FILE: /etc/ragplane/tls/ca.crt
RAGPLANE_TLS_CLIENT_AUTH: {{ ternary "require" "none" $t.mutual | quote }}
RAGPLANE_GRPC_HEALTH_LISTEN: {{ printf "0.0.0.0:%s" (include "ragplane.healthPort" .) | quote }}
{{- if include "ragplane.hasInternalPort" . }}
RAGPLANE_GRPC_INTERNAL_LISTEN: {{ printf "0.0.0.0:%s" (include "ragplane.internalPort" .) | quote }}
{{- end }}
{{- if and (include "ragplane.callsLLM" .) (include "ragplane.llmServerTLS" .root) }}
RAGPLANE_MODEL_SERVER_TLS: "true"
{{- end }}
{{- end }}
{{- range $ca := include "ragplane.storeCAs" . | fromYamlArray }}
{{ $ca.env }}: {{ printf "/etc/ragplane/%s/ca.crt" $ca.volume | quote }}
{{- end -}}
{{- end -}}

{{/*
The CA Secrets of the stores the workload uses, as a YAML list of {volume, secret, key, env}: the CA that
verifies a rediss:// Redis (RAGPLANE_REDIS_CA_FILE) or an https:// Qdrant (RAGPLANE_QDRANT_CA_FILE).
*/}}
{{- define "ragplane.storeCAs" -}}
{{- include "ragplane.loadTopology" .root -}}
{{- $v := .root.Values -}}
{{- $uses := (get .root.ragplaneTopology .name | default dict).uses | default list -}}
{{- $out := list -}}
{{- range $store := list "redis" "stateRedis" "qdrant" -}}
{{- $ca := (get $v $store | default dict).caSecret | default dict -}}
{{- if and (has $store $uses) $ca.name -}}
{{- $env := ternary "RAGPLANE_QDRANT_CA_FILE" "RAGPLANE_REDIS_CA_FILE" (eq $store "qdrant") -}}
{{- $out = append $out (dict "volume" (printf "%s-ca" (lower $store)) "secret" $ca.name "key" $ca.key "env" $env) -}}
{{- end -}}
{{- end -}}
{{- toYaml $out -}}
{{- end -}}

{{/* The certificate's volume and the stores' CA volumes (under the pod's volumes). */}}
{{- define "ragplane.tlsVolume" -}}
{{- if include "ragplane.mountsCertificate" . }}
- name: tls
  secret:
    secretName: {{ include "ragplane.tlsSecret" . }}
    defaultMode: 0440
    items:
      - {key: tls.crt, path: tls.crt}
      - {key: tls.key, path: tls.key}
      - {key: ca.crt, path: ca.crt}
{{- end }}
{{- range $ca := include "ragplane.storeCAs" . | fromYamlArray }}
- name: {{ $ca.volume }}
  secret:
    secretName: {{ $ca.secret }}
    items:
      - {key: {{ $ca.key }}, path: ca.crt}
{{- end }}
{{- end -}}

{{/* Their mounts (under the container's volumeMounts); directory mounts, so renewals reach the pod. */}}
{{- define "ragplane.tlsVolumeMount" -}}
{{- if include "ragplane.mountsCertificate" . }}
- name: tls
  mountPath: /etc/ragplane/tls
  readOnly: true
{{- end }}
{{- range $ca := include "ragplane.storeCAs" . | fromYamlArray }}
- name: {{ $ca.volume }}
  mountPath: /etc/ragplane/{{ $ca.volume }}
  readOnly: true
{{- end }}
{{- end -}}

{{/* The DNS names a workload's certificate must carry: its Service and headless Service, short to FQDN. */}}
{{- define "ragplane.tlsDNSNames" -}}
{{- $ns := .root.Release.Namespace -}}
{{- range $svc := list (include "ragplane.workloadName" .) (include "ragplane.headlessName" .) }}
- {{ $svc }}
- {{ $svc }}.{{ $ns }}
- {{ $svc }}.{{ $ns }}.svc
- {{ $svc }}.{{ $ns }}.svc.cluster.local
{{- end }}
{{- end -}}
