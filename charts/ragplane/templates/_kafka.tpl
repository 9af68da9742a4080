{{/*
Kafka: the client settings every Kafka user shares (ConfigMap data, the password by Secret reference) and the
topics the chart creates. Each takes the root context.
*/}}

{{/* Kafka security protocol from the tls and sasl switches (one way to say it). */}}
{{- define "ragplane.kafkaSecurityProtocol" -}}
{{- $k := .Values.kafka -}}
{{- if and $k.tls.enabled $k.sasl.enabled -}}SASL_SSL
{{- else if $k.sasl.enabled -}}SASL_PLAINTEXT
{{- else if $k.tls.enabled -}}SSL
{{- else -}}PLAINTEXT
{{- end -}}
{{- end -}}

{{/* Where the brokers' CA certificate is mounted (kafka.tls.caSecret). */}}
{{- define "ragplane.kafkaCAPath" -}}
/etc/ragplane/kafka-ca/{{ .Values.kafka.tls.caSecret.key }}
{{- end -}}

{{/* Kafka settings as ConfigMap data (the password travels separately, by Secret reference). */}}
{{- define "ragplane.kafkaConfigData" -}}
{{- $k := .Values.kafka -}}
RAGPLANE_KAFKA_BOOTSTRAP: {{ required "kafka.bootstrapServers must be set (host:port of the brokers, comma-separated)" $k.bootstrapServers | quote }}
RAGPLANE_KAFKA_SECURITY_PROTOCOL: {{ include "ragplane.kafkaSecurityProtocol" . | quote }}
RAGPLANE_KAFKA_PARTITIONS: {{ $k.topics.partitions | quote }}
{{- if $k.sasl.enabled }}
RAGPLANE_KAFKA_SASL_MECHANISM: {{ $k.sasl.mechanism | quote }}
RAGPLANE_KAFKA_SASL_USERNAME: {{ required "kafka.sasl.username must be set when kafka.sasl.enabled" $k.sasl.username | quote }}
{{- end }}
{{- if and $k.tls.enabled $k.tls.caSecret.name }}
RAGPLANE_KAFKA_SSL_CAFILE: {{ include "ragplane.kafkaCAPath" . | quote }}
{{- end }}
{{- end -}}

{{/* Kafka environment that comes from Secrets. */}}
{{- define "ragplane.kafkaSecretEnv" -}}
{{- $k := .Values.kafka -}}
{{- if $k.sasl.enabled }}
- name: RAGPLANE_KAFKA_SASL_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ required "kafka.sasl.passwordSecret.name must be set when kafka.sasl.enabled" $k.sasl.passwordSecret.name }}
      key: {{ $k.sasl.passwordSecret.key }}
{{- end }}
{{- end -}}

{{/*
The topics as JSON: {"<topic>": {"partitions": n, "replicationFactor": n, "retentionMs": n}}, the event topics
and their dead-letter topics (<topic>.dlq), with kafka.topics.overrides applied per topic.
*/}}
{{- define "ragplane.topicSpec" -}}
{{- $t := .Values.kafka.topics -}}
{{- $spec := dict -}}
{{- range $base := list "ragplane.chunks.v1" "ragplane.vectors.v1" "ragplane.indexed.v1" "ragplane.answers.v1" "ragplane.feedback.v1" "ragplane.evals.v1" -}}
{{- range $topic := list $base (printf "%s.dlq" $base) -}}
{{- $want := dict "partitions" (int $t.partitions) "replicationFactor" (int $t.replicationFactor) "retentionMs" (int64 (ternary $t.dlqRetentionMs $t.retentionMs (hasSuffix ".dlq" $topic))) -}}
{{- $over := get $t.overrides $topic | default dict -}}
{{- range $key := list "partitions" "replicationFactor" "retentionMs" -}}
{{- if hasKey $over $key -}}
{{- $_ := set $want $key (int64 (get $over $key)) -}}
{{- end -}}
{{- end -}}
{{- $_ := set $spec $topic $want -}}
{{- end -}}
{{- end -}}
{{- range $topic := keys $t.overrides -}}
{{- if not (hasKey $spec $topic) -}}
{{- fail (printf "kafka.topics.overrides: %s is not a ragplane topic (%s)" $topic (keys $spec | sortAlpha | join ", ")) -}}
{{- end -}}
{{- end -}}
{{- toJson $spec -}}
{{- end -}}
