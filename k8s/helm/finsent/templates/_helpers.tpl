{{/* Full name: "finsent" for a release named finsent (or containing it), else "<release>-finsent". */}}
{{- define "finsent.fullname" -}}
{{- if contains "finsent" .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-finsent" .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "finsent.selectorLabels" -}}
app.kubernetes.io/name: finsent
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: worker
{{- end -}}

{{- define "finsent.labels" -}}
app.kubernetes.io/name: finsent
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/part-of: finsent
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{- define "finsent.workerLabels" -}}
{{ include "finsent.labels" . }}
app.kubernetes.io/component: worker
{{- end -}}

{{/* Parse an env file (KEY=VALUE lines, # comments) into a dict. */}}
{{- define "finsent.parseEnv" -}}
{{- $out := dict -}}
{{- range $line := splitList "\n" . -}}
{{- $line = trim $line -}}
{{- if and $line (not (hasPrefix "#" $line)) -}}
{{- $kv := splitn "=" 2 $line -}}
{{- $_ := set $out $kv._0 $kv._1 -}}
{{- end -}}
{{- end -}}
{{- toJson $out -}}
{{- end -}}

{{/* The worker config: files/config.env, then files/config-gpu.env (gpu), then .Values.config. */}}
{{- define "finsent.config" -}}
{{- $cfg := include "finsent.parseEnv" (.Files.Get "files/config.env") | fromJson -}}
{{- if .Values.gpu.enabled -}}
{{- $cfg = merge (include "finsent.parseEnv" (.Files.Get "files/config-gpu.env") | fromJson) $cfg -}}
{{- end -}}
{{- range $k, $v := .Values.config -}}
{{- $_ := set $cfg $k (toString $v) -}}
{{- end -}}
{{- toJson $cfg -}}
{{- end -}}

{{- define "finsent.image" -}}
{{- $repo := ternary .Values.gpu.image.repository .Values.image.repository .Values.gpu.enabled -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" $repo .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" $repo (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
{{- end -}}

{{- define "finsent.passwordSecret" -}}
{{- default .Values.kafka.username .Values.kafka.passwordSecret.name -}}
{{- end -}}

{{- define "finsent.serviceAccount" -}}
{{- default (include "finsent.fullname" .) .Values.serviceAccount.name -}}
{{- end -}}
