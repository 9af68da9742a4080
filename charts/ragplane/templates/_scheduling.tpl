{{/*
Scheduling: where a workload's pods run (node pools, spreading, priority, pull secrets) and the resources its
containers ask for, GPUs included.
*/}}

{{/*
Node pool placement from the workload's block. Without topologySpreadConstraints the pods are spread over
nodes where possible (never blocking scheduling).
*/}}
{{- define "ragplane.placement" -}}
{{- $block := get .root.Values .name -}}
{{- with $block.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $block.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $block.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
topologySpreadConstraints:
{{- if $block.topologySpreadConstraints }}
  {{- toYaml $block.topologySpreadConstraints | nindent 2 }}
{{- else }}
  - maxSkew: 1
    topologyKey: kubernetes.io/hostname
    whenUnsatisfiable: ScheduleAnyway
    labelSelector:
      matchLabels:
        {{- include "ragplane.selectorLabels" . | nindent 8 }}
{{- end }}
{{- with $block.priorityClassName }}
priorityClassName: {{ . }}
{{- end }}
{{- with .root.Values.global.image.pullSecrets }}
imagePullSecrets:
{{- range . }}
  - name: {{ . }}
{{- end }}
{{- end }}
{{- end -}}

{{/*
Container resources with the GPUs added as an extended resource (requests = limits, as Kubernetes requires):
dict "name" <workload> "resources" <map> "gpus" <int> "resourceName" <string>.
GPUs are declared in the workload's gpu block only; naming the GPU resource under resources is refused.
*/}}
{{- define "ragplane.resources" -}}
{{- $res := deepCopy (.resources | default dict) -}}
{{- range $section := list "requests" "limits" -}}
{{- if hasKey (get $res $section | default dict) $.resourceName -}}
{{- fail (printf "%s.resources.%s must not name %s: declare GPUs in the gpu block of %s" $.name $section $.resourceName $.name) -}}
{{- end -}}
{{- end -}}
{{- if gt (int .gpus) 0 -}}
{{- $_ := set $res "requests" (merge (dict .resourceName (int .gpus)) (get $res "requests" | default dict)) -}}
{{- $_ := set $res "limits" (merge (dict .resourceName (int .gpus)) (get $res "limits" | default dict)) -}}
{{- end -}}
{{- toYaml $res -}}
{{- end -}}
