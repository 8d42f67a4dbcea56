{{/* Names ------------------------------------------------------------------ */}}

{{- define "vmt-dask.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Full name; components append a suffix of at most 10 characters, so keep 52. */}}
{{- define "vmt-dask.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 52 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 52 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 52 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "vmt-dask.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "vmt-dask.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "vmt-dask.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* Labels ----------------------------------------------------------------- */}}

{{/* Selects every pod of this release (used by the NetworkPolicies). */}}
{{- define "vmt-dask.releaseSelector" -}}
app.kubernetes.io/name: {{ include "vmt-dask.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "vmt-dask.labels" -}}
helm.sh/chart: {{ include "vmt-dask.chart" . }}
{{ include "vmt-dask.releaseSelector" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: vmt-dask
{{- end }}

{{/* Usage: include "vmt-dask.selectorLabels" (list . "scheduler") */}}
{{- define "vmt-dask.selectorLabels" -}}
{{ include "vmt-dask.releaseSelector" (index . 0) }}
app.kubernetes.io/component: {{ index . 1 }}
{{- end }}

{{- define "vmt-dask.componentLabels" -}}
{{ include "vmt-dask.labels" (index . 0) }}
app.kubernetes.io/component: {{ index . 1 }}
{{- end }}

{{/* Image and addresses ---------------------------------------------------- */}}

{{- define "vmt-dask.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{- define "vmt-dask.scheme" -}}
{{- if .Values.tls.enabled }}tls{{ else }}tcp{{ end }}
{{- end }}

{{- define "vmt-dask.schedulerAddress" -}}
{{- printf "%s://%s-scheduler:%d" (include "vmt-dask.scheme" .) (include "vmt-dask.fullname" .) (int .Values.scheduler.port) }}
{{- end }}

{{- define "vmt-dask.storeUrl" -}}
{{- if eq .Values.storage.type "objectStore" }}
{{- .Values.storage.objectStore.url }}
{{- else }}
{{- printf "/data/%s" (trimPrefix "/" .Values.storage.pvc.storePath) }}
{{- end }}
{{- end }}

{{- define "vmt-dask.claimName" -}}
{{- default (printf "%s-data" (include "vmt-dask.fullname" .)) .Values.storage.pvc.existingClaim }}
{{- end }}

{{/* Kubernetes quantities -------------------------------------------------- */}}

{{/* A memory quantity ("8Gi", "500M", "1073741824") in bytes, as an integer string. */}}
{{- define "vmt-dask.bytes" -}}
{{- $q := toString . }}
{{- $num := regexFind "^[0-9]+(\\.[0-9]+)?" $q }}
{{- $suffix := trimPrefix $num $q }}
{{- $scale := dict "" 1.0 "k" 1e3 "M" 1e6 "G" 1e9 "T" 1e12 "Ki" 1024.0 "Mi" 1048576.0 "Gi" 1073741824.0 "Ti" 1099511627776.0 }}
{{- if not (hasKey $scale $suffix) }}
{{- fail (printf "cannot read the memory quantity %q" $q) }}
{{- end }}
{{- printf "%d" (mulf (float64 $num) (get $scale $suffix) | floor | int64) }}
{{- end }}

{{/* A CPU quantity ("2", 1.5, "1500m") rounded down to whole cores, at least 1. */}}
{{- define "vmt-dask.cores" -}}
{{- $q := toString . }}
{{- $cores := 0.0 }}
{{- if hasSuffix "m" $q }}
{{- $cores = divf (float64 (trimSuffix "m" $q)) 1000.0 }}
{{- else }}
{{- $cores = float64 $q }}
{{- end }}
{{- printf "%d" (max 1 (floor $cores | int64)) }}
{{- end }}

{{- define "vmt-dask.workerThreads" -}}
{{- if .Values.worker.nthreads }}
{{- printf "%d" (int .Values.worker.nthreads) }}
{{- else }}
{{- include "vmt-dask.cores" .Values.worker.resources.limits.cpu }}
{{- end }}
{{- end }}

{{/* --memory-limit in bytes: memoryLimitFraction of the container limit. */}}
{{- define "vmt-dask.workerMemoryLimit" -}}
{{- $bytes := include "vmt-dask.bytes" .Values.worker.resources.limits.memory | float64 }}
{{- printf "%d" (mulf $bytes .Values.worker.memoryLimitFraction | floor | int64) }}
{{- end }}

{{/* Pod pieces ------------------------------------------------------------- */}}

{{- define "vmt-dask.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ .Values.podSecurity.runAsUser }}
runAsGroup: {{ .Values.podSecurity.runAsGroup }}
fsGroup: {{ .Values.podSecurity.fsGroup }}
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{- define "vmt-dask.containerSecurityContext" -}}
runAsNonRoot: true
readOnlyRootFilesystem: true
allowPrivilegeEscalation: false
privileged: false
capabilities:
  drop:
    - ALL
{{- end }}

{{/* Environment of every container that speaks Dask. */}}
{{- define "vmt-dask.commonEnv" -}}
- name: POD_NAME
  valueFrom:
    fieldRef:
      fieldPath: metadata.name
- name: POD_IP
  valueFrom:
    fieldRef:
      fieldPath: status.podIP
- name: HOME
  value: /tmp
- name: PYTHONDONTWRITEBYTECODE
  value: "1"
- name: NUMBA_CACHE_DIR
  value: /tmp/numba-cache
- name: MPLCONFIGDIR
  value: /tmp/matplotlib
- name: XDG_CACHE_HOME
  value: /tmp/cache
- name: DASK_TEMPORARY_DIRECTORY
  value: /tmp/dask
{{- if .Values.tls.enabled }}
- name: DASK_DISTRIBUTED__COMM__REQUIRE_ENCRYPTION
  value: "True"
- name: DASK_DISTRIBUTED__COMM__DEFAULT_SCHEME
  value: tls
- name: DASK_DISTRIBUTED__COMM__TLS__CA_FILE
  value: /etc/vmt-dask/tls/ca.crt
{{- range list "SCHEDULER" "WORKER" "CLIENT" }}
- name: DASK_DISTRIBUTED__COMM__TLS__{{ . }}__CERT
  value: /etc/vmt-dask/tls/tls.crt
- name: DASK_DISTRIBUTED__COMM__TLS__{{ . }}__KEY
  value: /etc/vmt-dask/tls/tls.key
{{- end }}
{{- end }}
{{- end }}

{{/* Environment of the containers that open the study store. */}}
{{- define "vmt-dask.storeEnv" -}}
- name: DASK_SCHEDULER_ADDRESS
  value: {{ include "vmt-dask.schedulerAddress" . | quote }}
- name: VMT_STORE
  value: {{ include "vmt-dask.storeUrl" . | quote }}
{{- if eq .Values.storage.type "objectStore" }}
{{- with .Values.storage.objectStore.endpointUrl }}
- name: AWS_ENDPOINT_URL
  value: {{ . | quote }}
{{- end }}
{{- with .Values.storage.objectStore.region }}
- name: AWS_DEFAULT_REGION
  value: {{ . | quote }}
{{- end }}
{{- end }}
{{- end }}

{{- define "vmt-dask.storeEnvFrom" -}}
{{- if eq .Values.storage.type "objectStore" }}
envFrom:
  - secretRef:
      name: {{ .Values.storage.objectStore.existingSecret }}
{{- end }}
{{- end }}

{{/* Volumes: scratch (always), TLS (if on), store (if on a PVC and `store` is true). */}}
{{- define "vmt-dask.volumes" -}}
{{- $root := index . 0 }}
{{- $store := index . 1 }}
- name: scratch
  emptyDir:
    sizeLimit: {{ $root.Values.scratch.sizeLimit }}
{{- if $root.Values.tls.enabled }}
- name: tls
  secret:
    secretName: {{ $root.Values.tls.existingSecret }}
    defaultMode: 0440
{{- end }}
{{- if and $store (eq $root.Values.storage.type "pvc") }}
- name: data
  persistentVolumeClaim:
    claimName: {{ include "vmt-dask.claimName" $root }}
{{- end }}
{{- end }}

{{- define "vmt-dask.volumeMounts" -}}
{{- $root := index . 0 }}
{{- $store := index . 1 }}
- name: scratch
  mountPath: /tmp
{{- if $root.Values.tls.enabled }}
- name: tls
  mountPath: /etc/vmt-dask/tls
  readOnly: true
{{- end }}
{{- if and $store (eq $root.Values.storage.type "pvc") }}
- name: data
  mountPath: /data
{{- end }}
{{- end }}

{{/* Scheduling constraints of a component's values. */}}
{{- define "vmt-dask.scheduling" -}}
{{- with .nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}

{{- define "vmt-dask.imagePullSecrets" -}}
{{- with .Values.image.pullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}
