{{/*
Per-call load balancing between the chart's workloads. A ClusterIP Service balances per connection, and a
gRPC caller keeps one connection, so every call of one caller would land on one replica. Callers therefore
reach a callee through its headless companion Service (clusterIP: None), whose DNS name resolves to the
address of every ready pod; the caller's channel (`dns:///` scheme, round_robin policy) sends each call to the
next pod, and servers close connections after RAGPLANE_GRPC_MAX_CONNECTION_AGE_S, so callers look the name up
again and reach replicas added since. The ClusterIP Services stay for clients outside the chart.
*/}}

{{/* Name of a workload's headless Service: dict "root" $ "name" <workload>. */}}
{{- define "ragplane.headlessName" -}}
{{- printf "%s-headless" (include "ragplane.workloadName" .) -}}
{{- end -}}

{{/*
The address callers use for a workload: dns:///<headless name>.<namespace>.svc:<port>, the port being its gRPC
port, or its internal port under mutual TLS for a client-facing workload (ragplane.callPort in _tls.tpl).
*/}}
{{- define "ragplane.peerAddress" -}}
{{- $port := include "ragplane.callPort" . -}}
{{- printf "dns:///%s.%s.svc:%v" (include "ragplane.headlessName" .) .root.Release.Namespace $port -}}
{{- end -}}

{{/*
The headless Service of a workload that has callers, the gateway included (empty otherwise): its gRPC port on
the pods themselves (a headless Service does no port mapping, so the port is the container's).
*/}}
{{- define "ragplane.headlessService" -}}
{{- if or (include "ragplane.callers" . | fromYamlArray) (include "ragplane.gatewayCalls" .) -}}
{{- $port := (get .root.ragplaneTopology .name).grpcPort -}}
apiVersion: v1
kind: Service
metadata:
  name: {{ include "ragplane.headlessName" . }}
  labels:
    {{- include "ragplane.labels" . | nindent 4 }}
spec:
  clusterIP: None
  # Only ready pods are listed: a replica that is still warming up gets no calls.
  publishNotReadyAddresses: false
  selector:
    {{- include "ragplane.selectorLabels" . | nindent 4 }}
  ports:
    - name: grpc
      port: {{ $port }}
      targetPort: {{ $port }}
      protocol: TCP
      appProtocol: grpc
    {{- if include "ragplane.hasInternalPort" . }}
    {{- $internal := include "ragplane.internalPort" . }}
    - name: grpc-internal
      port: {{ $internal }}
      targetPort: {{ $internal }}
      protocol: TCP
      appProtocol: grpc
    {{- end }}
{{- end -}}
{{- end -}}
