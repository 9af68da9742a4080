{{/*
Size presets (values `preset`: small or gpu). A preset is a values file under files/presets/, rendered with tpl,
laid over the values once per render, before any template reads them: each value the preset names takes the
preset's value only while the release leaves it at the chart's default (values.yaml, as
files/presets/chart-defaults.yaml), so whatever the user sets
wins. (A value set explicitly to the chart's default is indistinguishable from an unset one and takes the
preset's.) ragplane.loadTopology applies it, and every template that reads values calls that first.
*/}}

{{/* Apply values.preset to .Values, once per render (takes the root). */}}
{{- define "ragplane.applyPreset" -}}
{{- if and .Values.preset (not (hasKey . "ragplanePresetApplied")) -}}
{{- $_ := set . "ragplanePresetApplied" true -}}
{{- $file := printf "files/presets/%s.yaml" .Values.preset -}}
{{- $source := .Files.Get $file -}}
{{- if not $source -}}
{{- fail (printf "preset %q: no %s in the chart" .Values.preset $file) -}}
{{- end -}}
{{- $preset := tpl $source . | fromYaml -}}
{{- /* Helm keeps values.yaml out of .Files: the schema generator writes the defaults the presets touch */ -}}
{{- $defaults := .Files.Get "files/presets/chart-defaults.yaml" | fromYaml -}}
{{- include "ragplane.overlayPreset" (dict "values" .Values "defaults" $defaults "preset" $preset) -}}
{{- end -}}
{{- end -}}

{{/* Lay .preset over .values where .values still equals .defaults, map by map. */}}
{{- define "ragplane.overlayPreset" -}}
{{- $values := .values -}}
{{- $defaults := .defaults | default dict -}}
{{- range $key, $want := .preset -}}
{{- $have := get $values $key -}}
{{- if and (kindIs "map" $want) (kindIs "map" $have) -}}
{{- include "ragplane.overlayPreset" (dict "values" $have "defaults" (get $defaults $key | default dict) "preset" $want) -}}
{{- else if eq (toJson $have) (toJson (get $defaults $key)) -}}
{{- $_ := set $values $key $want -}}
{{- end -}}
{{- end -}}
{{- end -}}
