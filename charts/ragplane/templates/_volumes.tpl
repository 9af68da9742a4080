{{/*
Volumes of a ragplane pod and their mounts, kept side by side so that each volume has its mount: a writable
/tmp (the root filesystem is read-only), the Secrets mounted as files, models, and the block's extra volumes.
Each takes dict "root" $ "name" <workload>.
*/}}

{{/* Volumes of a ragplane pod: writable /tmp, mounted Secrets, models, and the block's extra volumes. */}}
{{- define "ragplane.volumes" -}}
{{- $v := .root.Values -}}
{{- $block := get $v .name -}}
{{- include "ragplane.loadTopology" .root -}}
{{- $topo := get .root.ragplaneTopology .name -}}
- name: tmp
  emptyDir:
    sizeLimit: 2Gi
{{- include "ragplane.tlsVolume" . }}
{{- if and $topo.public $v.global.auth.apiKeys.secretName $v.global.auth.apiKeys.mountAsFile }}
- name: api-keys
  secret:
    secretName: {{ $v.global.auth.apiKeys.secretName }}
    items:
      - key: {{ $v.global.auth.apiKeys.key }}
        path: {{ $v.global.auth.apiKeys.key }}
{{- end }}
{{- if and (has "kafka" $topo.uses) $v.kafka.tls.enabled $v.kafka.tls.caSecret.name }}
- name: kafka-ca
  secret:
    secretName: {{ $v.kafka.tls.caSecret.name }}
    items:
      - key: {{ $v.kafka.tls.caSecret.key }}
        path: {{ $v.kafka.tls.caSecret.key }}
{{- end }}
{{- if eq $block.models.source "volume" }}
- name: models
  {{- if not $block.models.volume }}
  {{- fail (printf "%s.models.volume must be set when %s.models.source is volume (e.g. {persistentVolumeClaim: {claimName: models}})" .name .name) }}
  {{- end }}
  {{- toYaml $block.models.volume | nindent 2 }}
{{- end }}
{{- with $block.extraVolumes }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{- define "ragplane.volumeMounts" -}}
{{- $v := .root.Values -}}
{{- $block := get $v .name -}}
{{- include "ragplane.loadTopology" .root -}}
{{- $topo := get .root.ragplaneTopology .name -}}
- name: tmp
  mountPath: /tmp
{{- include "ragplane.tlsVolumeMount" . }}
{{- if and $topo.public $v.global.auth.apiKeys.secretName $v.global.auth.apiKeys.mountAsFile }}
- name: api-keys
  mountPath: /etc/ragplane/api-keys
  readOnly: true
{{- end }}
{{- if and (has "kafka" $topo.uses) $v.kafka.tls.enabled $v.kafka.tls.caSecret.name }}
- name: kafka-ca
  mountPath: /etc/ragplane/kafka-ca
  readOnly: true
{{- end }}
{{- if eq $block.models.source "volume" }}
- name: models
  mountPath: {{ $block.models.mountPath }}
  readOnly: true
{{- end }}
{{- with $block.extraVolumeMounts }}
{{ toYaml . }}
{{- end }}
{{- end -}}
