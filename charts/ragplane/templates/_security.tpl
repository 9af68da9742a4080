{{/*
Security contexts: ragplane pods never run as root, and their containers run with a read-only root
filesystem, no privilege escalation and no capabilities. Each takes dict "root" $ "name" <workload>.
*/}}

{{/* Pod security context: never root, whatever the values say; only the ids are configurable. */}}
{{- define "ragplane.podSecurityContext" -}}
{{- $block := get .root.Values .name | default dict -}}
{{- $ids := merge (deepCopy ($block.podSecurityContext | default dict)) .root.Values.global.podSecurityContext -}}
runAsNonRoot: true
runAsUser: {{ $ids.runAsUser }}
runAsGroup: {{ $ids.runAsGroup }}
fsGroup: {{ $ids.fsGroup }}
fsGroupChangePolicy: OnRootMismatch
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/* Container security context: read-only root filesystem, no privilege escalation, no capabilities. */}}
{{- define "ragplane.containerSecurityContext" -}}
runAsNonRoot: true
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
privileged: false
capabilities:
  drop: [ALL]
{{- end -}}
