{{/*
Triton's container and volumes, shared by the Deployment and the KServe InferenceService.
ragplane.triton.container: dict "root" $ "containerName" <name> "grpcPortName" <grpc|h2c> "repoPath" <path>
  ["storageUri" <uri>: KServe downloads the repository, so no model-repository volume is mounted].
ragplane.triton.volumes: dict "root" $ "name" "triton" ["storageUri" <uri>].
*/}}
{{- define "ragplane.triton.container" -}}
{{- $root := .root -}}
{{- $t := .root.Values.triton -}}
{{- $worldSize := mul $t.gpu.tensorParallelSize $t.gpu.pipelineParallelSize -}}
name: {{ .containerName }}
image: {{ include "ragplane.image" (dict "root" $root "name" "triton" "image" $t.image) }}
imagePullPolicy: {{ $root.Values.global.image.pullPolicy }}
command: ["/bin/bash", "/opt/ragplane/launch.sh"]
{{- /* TLS on the gRPC port (global.tls, triton.tls), then the user's arguments */}}
{{- $args := concat (include "ragplane.triton.tlsArgs" (dict "root" $root) | fromYamlArray) ($t.extraArgs | default list) }}
{{- with $args }}
args:
  {{- toYaml . | nindent 2 }}
{{- end }}
ports:
  - name: {{ .grpcPortName }}
    containerPort: 8001
    protocol: TCP
  - name: http
    containerPort: 8000
    protocol: TCP
  - name: metrics
    containerPort: 8002
    protocol: TCP
env:
  - name: WORLD_SIZE
    value: {{ $worldSize | quote }}
  - name: TP_SIZE
    value: {{ $t.gpu.tensorParallelSize | quote }}
  - name: PP_SIZE
    value: {{ $t.gpu.pipelineParallelSize | quote }}
  - name: MODEL_REPOSITORY
    value: {{ .repoPath | quote }}
  - name: TRTLLM_MODEL_NAME
    value: {{ $t.tensorrtLLMModelName | quote }}
  - name: GRPC_PORT
    value: "8001"
  - name: HTTP_PORT
    value: "8000"
  - name: METRICS_PORT
    value: "8002"
  - name: HOME
    value: /tmp
  {{- with .storageUri }}
  - name: STORAGE_URI
    value: {{ . | quote }}
  {{- end }}
  {{- range $key, $value := $t.env }}
  - name: {{ $key }}
    {{- if kindIs "map" $value }}
    {{- toYaml $value | nindent 4 }}
    {{- else }}
    value: {{ $value | toString | quote }}
    {{- end }}
  {{- end }}
resources:
  {{- include "ragplane.resources" (dict "name" "triton" "resources" $t.resources "gpus" $worldSize "resourceName" $t.gpu.resourceName) | nindent 2 }}
securityContext:
  {{- include "ragplane.containerSecurityContext" . | nindent 2 }}
startupProbe:
  httpGet: {path: /v2/health/ready, port: 8000}
  periodSeconds: {{ $t.probes.startup.periodSeconds }}
  failureThreshold: {{ $t.probes.startup.failureThreshold }}
  timeoutSeconds: 3
readinessProbe:
  httpGet: {path: /v2/health/ready, port: 8000}
  periodSeconds: {{ $t.probes.readiness.periodSeconds }}
  failureThreshold: {{ $t.probes.readiness.failureThreshold }}
  timeoutSeconds: 3
livenessProbe:
  httpGet: {path: /v2/health/live, port: 8000}
  periodSeconds: {{ $t.probes.liveness.periodSeconds }}
  failureThreshold: {{ $t.probes.liveness.failureThreshold }}
  timeoutSeconds: 5
volumeMounts:
  - name: launch
    mountPath: /opt/ragplane
    readOnly: true
  - name: shm
    mountPath: /dev/shm
  - name: tmp
    mountPath: /tmp
  {{- with include "ragplane.tlsVolumeMount" (dict "root" $root "name" "triton") | trim }}
  {{- . | nindent 2 }}
  {{- end }}
  {{- if not .storageUri }}
  - name: model-repository
    mountPath: {{ .repoPath }}
    {{- if eq $t.modelRepository.source "pvc" }}
    readOnly: true
    {{- with $t.modelRepository.pvc.subPath }}
    subPath: {{ . }}
    {{- end }}
    {{- end }}
  {{- end }}
  {{- with $t.extraVolumeMounts }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
{{- end -}}
{{- define "ragplane.triton.volumes" -}}
{{- $t := .root.Values.triton -}}
- name: launch
  configMap:
    name: {{ include "ragplane.workloadName" . }}
    defaultMode: 0555
- name: shm
  emptyDir:
    medium: Memory
    sizeLimit: {{ $t.shmSize }}
- name: tmp
  emptyDir:
    sizeLimit: 8Gi
{{- include "ragplane.tlsVolume" (dict "root" .root "name" "triton") }}
{{- if not .storageUri }}
- name: model-repository
  {{- if eq $t.modelRepository.source "pvc" }}
  persistentVolumeClaim:
    claimName: {{ $t.modelRepository.pvc.claimName }}
    readOnly: true
  {{- else }}
  emptyDir:
    sizeLimit: {{ $t.modelRepository.objectStore.sizeLimit }}
  {{- end }}
{{- end }}
{{- with $t.extraVolumes }}
{{ toYaml . }}
{{- end }}
{{- end -}}
