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

{{/*
The release's topic and consumer-group prefix (kafka.topicPrefix, rendered with tpl so that it may name the
release, e.g. "{{ .Release.Name }}."); empty: the plain names. Checked against what Kafka allows in a topic name.
*/}}
{{- define "ragplane.topicPrefix" -}}
{{- $prefix := tpl (.Values.kafka.topicPrefix | default "") . -}}
{{- if not (regexMatch "^[A-Za-z0-9._-]{0,100}$" $prefix) -}}
{{- fail (printf "kafka.topicPrefix must render to at most 100 of A-Z a-z 0-9 . _ - (Kafka topic names), but got %q" $prefix) -}}
{{- end -}}
{{- $prefix -}}
{{- end -}}

{{/* Kafka settings as ConfigMap data (the password travels separately, by Secret reference). */}}
{{- define "ragplane.kafkaConfigData" -}}
{{- $k := .Values.kafka -}}
RAGPLANE_KAFKA_BOOTSTRAP: {{ required "kafka.bootstrapServers must be set (host:port of the brokers, comma-separated)" $k.bootstrapServers | quote }}
RAGPLANE_KAFKA_SECURITY_PROTOCOL: {{ include "ragplane.kafkaSecurityProtocol" . | quote }}
RAGPLANE_KAFKA_PARTITIONS: {{ $k.topics.partitions | quote }}
RAGPLANE_KAFKA_TOPIC_PREFIX: {{ include "ragplane.topicPrefix" . | quote }}
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
and their dead-letter topics (<topic>.dlq) under the broker's names (kafka.topicPrefix in front), with
kafka.topics.overrides (keyed by the plain names) applied per topic.
*/}}
{{- define "ragplane.topicSpec" -}}
{{- $t := .Values.kafka.topics -}}
{{- $prefix := include "ragplane.topicPrefix" . -}}
{{- $plain := dict -}}
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
{{- $_ := set $spec (printf "%s%s" $prefix $topic) $want -}}
{{- $_ := set $plain $topic true -}}
{{- end -}}
{{- end -}}
{{- range $topic := keys $t.overrides -}}
{{- if not (hasKey $plain $topic) -}}
{{- fail (printf "kafka.topics.overrides: %s is not a ragplane topic (%s)" $topic (keys $plain | sortAlpha | join ", ")) -}}
{{- end -}}
{{- end -}}
{{- toJson $spec -}}
{{- end -}}
