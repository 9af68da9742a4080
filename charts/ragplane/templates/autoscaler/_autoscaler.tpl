{{/*
Helpers of the autoscaler operator's templates (operators/autoscaler). Each takes the root context.
*/}}

{{/* Namespaces it watches when not cluster-wide: the release namespace first, then autoscaler.namespaces. */}}
{{- define "ragplane.autoscaler.namespaces" -}}
{{- $out := list .Release.Namespace -}}
{{- range .Values.autoscaler.namespaces -}}
{{- if not (has . $out) -}}{{- $out = append $out . -}}{{- end -}}
{{- end -}}
{{- toYaml $out -}}
{{- end -}}

{{/* RAGPLANE_AUTOSCALER_GPU_POOLS: pool=gpus,... sorted by pool; every budget a non-negative integer. */}}
{{- define "ragplane.autoscaler.gpuPools" -}}
{{- $pools := .Values.autoscaler.gpuPools | default dict -}}
{{- $out := list -}}
{{- range $pool := keys $pools | sortAlpha -}}
{{- $gpus := get $pools $pool -}}
{{- if not (regexMatch "^[0-9]+$" (toString $gpus)) -}}
{{- fail (printf "autoscaler.gpuPools.%s must be a whole number of GPUs, but got %v" $pool $gpus) -}}
{{- end -}}
{{- if not (regexMatch "^[A-Za-z0-9][-A-Za-z0-9_.]*$" $pool) -}}
{{- fail (printf "autoscaler.gpuPools: %q is not a valid pool name" $pool) -}}
{{- end -}}
{{- $out = append $out (printf "%s=%v" $pool $gpus) -}}
{{- end -}}
{{- join "," $out -}}
{{- end -}}

{{/*
RAGPLANE_AUTOSCALER_SIGNAL_HOSTS: the hosts RagAutoscaler signals may fetch from: autoscaler.signalHosts, and the
host:port of the llm example's Prometheus when that example is rendered.
*/}}
{{- define "ragplane.autoscaler.signalHosts" -}}
{{- $a := .Values.autoscaler -}}
{{- $out := list -}}
{{- range $a.signalHosts -}}{{- $out = append $out . -}}{{- end -}}
{{- $llm := $a.examples.llm -}}
{{- if and $a.examples.enabled $llm.enabled $llm.prometheusURL -}}
{{- $host := (urlParse $llm.prometheusURL).host -}}
{{- if not (has $host $out) -}}{{- $out = append $out $host -}}{{- end -}}
{{- end -}}
{{- join "," $out -}}
{{- end -}}

{{/*
What the operator may do, and nothing more: watch RagAutoscalers and patch them (kopf's finalizer) and their
status; read and set the scale of Deployments and StatefulSets; read and patch InferenceServices (KServe has
no scale subresource); list HPAs to refuse targets they manage; create Events when it posts them.
*/}}
{{- define "ragplane.autoscaler.rules" -}}
- apiGroups: [ragplane.io]
  resources: [ragautoscalers]
  verbs: [get, list, watch, patch]
- apiGroups: [ragplane.io]
  resources: [ragautoscalers/status]
  verbs: [get, patch]
- apiGroups: [apps]
  resources: [deployments/scale, statefulsets/scale]
  verbs: [get, update]
- apiGroups: [serving.kserve.io]
  resources: [inferenceservices]
  verbs: [get, patch]
- apiGroups: [autoscaling]
  resources: [horizontalpodautoscalers]
  verbs: [get, list]
{{- if ne (toString .Values.autoscaler.postEvents) "false" }}
- apiGroups: [""]
  resources: [events]
  verbs: [create]
{{- end }}
{{- end -}}
