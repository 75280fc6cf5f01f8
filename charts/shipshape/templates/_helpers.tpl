{{/* Chart name, truncated to the 63 characters of a DNS label. */}}
{{- define "shipshape.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Resource name prefix: <release>-<chart>, or the release name when it already contains the chart name. */}}
{{- define "shipshape.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "shipshape.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Selector labels (immutable: never add to these). */}}
{{- define "shipshape.selectorLabels" -}}
app.kubernetes.io/name: {{ include "shipshape.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/*
Labels of a pod template: the selector labels, the component and podLabels only. Nothing that
changes with the chart version, the git revision or the image tag (helm.sh/chart,
app.kubernetes.io/version): a chart release that changes nothing in the pod spec rolls no pod.
Argument: dict "ctx" (root context) "component".
*/}}
{{- define "shipshape.podLabels" -}}
{{ include "shipshape.selectorLabels" .ctx }}
app.kubernetes.io/component: {{ .component }}
{{- with .ctx.Values.podLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* Standard labels of every object. */}}
{{- define "shipshape.labels" -}}
helm.sh/chart: {{ include "shipshape.chart" . }}
{{ include "shipshape.selectorLabels" . }}
app.kubernetes.io/version: {{ include "shipshape.imageTag" . | trunc 63 | trimSuffix "-" | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: shipshape
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* metadata.annotations (at indent 2) of every object, plus the given extra dict ("extra"). Renders nothing when empty. */}}
{{- define "shipshape.annotations" -}}
{{- $all := merge (dict) (.extra | default dict) (.ctx.Values.commonAnnotations | default dict) -}}
{{- with $all }}
  annotations:
    {{- toYaml . | nindent 4 }}
{{- end }}
{{- end -}}

{{- define "shipshape.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "shipshape.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "shipshape.imageTag" -}}
{{- default .Chart.AppVersion .Values.image.tag -}}
{{- end -}}

{{- define "shipshape.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (include "shipshape.imageTag" .) -}}
{{- end -}}
{{- end -}}

{{- define "shipshape.postgresql.image" -}}
{{- $img := .Values.postgresql.image -}}
{{- if $img.digest -}}
{{- printf "%s@%s" $img.repository $img.digest -}}
{{- else -}}
{{- printf "%s:%s" $img.repository $img.tag -}}
{{- end -}}
{{- end -}}

{{- define "shipshape.postgresql.fullname" -}}
{{- printf "%s-postgresql" (include "shipshape.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/*
The database password of the Secret the chart renders. Deterministic: the value, else (dev
PostgreSQL only) the password of the installed release's Secret, else one derived from the
release's namespace and name. The dev PostgreSQL is reachable only from this release's pods (its
NetworkPolicy), so the derived password is not what protects it; set postgresql.auth.password or
secrets.existingSecret for anything that needs a secret one.
*/}}
{{- define "shipshape.databasePassword" -}}
{{- if .Values.postgresql.enabled -}}
{{- $password := .Values.postgresql.auth.password -}}
{{- if not $password -}}
{{- $existing := lookup "v1" "Secret" .Release.Namespace (include "shipshape.fullname" .) -}}
{{- if and $existing (index ($existing.data | default dict) .Values.secrets.databasePasswordKey) -}}
{{- $password = index $existing.data .Values.secrets.databasePasswordKey | b64dec -}}
{{- else -}}
{{- $password = printf "shipshape-dev-postgresql/%s/%s" .Release.Namespace .Release.Name | sha256sum | trunc 32 -}}
{{- end -}}
{{- end -}}
{{- $password -}}
{{- else -}}
{{- .Values.externalDatabase.password -}}
{{- end -}}
{{- end -}}

{{/*
Name of the Secret holding the app's secret values: secrets.existingSecret, the External Secrets
Operator's target <fullname>-external, or the chart's own <fullname>. The operator's Secret and the
chart's never share a name: toggling externalSecret.enabled on a release would otherwise make Helm
meet a Secret it does not own (ownership conflict), or the operator one that Helm owns.
*/}}
{{- define "shipshape.secretName" -}}
{{- if .Values.secrets.existingSecret -}}
{{- .Values.secrets.existingSecret -}}
{{- else if .Values.externalSecret.enabled -}}
{{- printf "%s-external" (include "shipshape.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- include "shipshape.fullname" . -}}
{{- end -}}
{{- end -}}

{{/*
The migration Job runs as a pre-install/pre-upgrade hook when the database is external: at that
moment the release's own objects do not exist yet, so it reads its secrets from an existing Secret
or from a hook copy (Secret or ExternalSecret) named <fullname>-migrate. With the in-chart dev
PostgreSQL it is an ordinary release object (the database must exist first) and uses the app Secret.
*/}}
{{- define "shipshape.migration.isHook" -}}
{{- if not .Values.postgresql.enabled -}}true{{- end -}}
{{- end -}}

{{- define "shipshape.migration.secretName" -}}
{{- if or .Values.secrets.existingSecret (not (include "shipshape.migration.isHook" .)) -}}
{{- include "shipshape.secretName" . -}}
{{- else -}}
{{- printf "%s-migrate" (include "shipshape.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/* Database URL without password (the password comes from the Secret as SHIPSHAPE_DATABASE_PASSWORD). */}}
{{- define "shipshape.databaseUrl" -}}
{{- if .Values.postgresql.enabled -}}
{{- $a := .Values.postgresql.auth -}}
{{- printf "postgresql://%s@%s:5432/%s" $a.username (include "shipshape.postgresql.fullname" .) $a.database -}}
{{- else -}}
{{- $d := .Values.externalDatabase -}}
{{- printf "%s://%s@%s:%d/%s" $d.scheme $d.user $d.host (int $d.port) $d.database -}}
{{- with $d.query }}?{{ . }}{{ end -}}
{{- end -}}
{{- end -}}

{{- define "shipshape.databasePort" -}}
{{- if .Values.postgresql.enabled -}}5432{{- else -}}{{ int .Values.externalDatabase.port }}{{- end -}}
{{- end -}}

{{/* Non-secret configuration as a flat dict of environment variables (ConfigMap data and hook Job env). */}}
{{- define "shipshape.configEnv" -}}
{{- $c := .Values.config -}}
DATABASE_URL: {{ include "shipshape.databaseUrl" . | quote }}
SHIPSHAPE_HOST: "0.0.0.0"
SHIPSHAPE_PORT: {{ .Values.containerPort | quote }}
SHIPSHAPE_ENVIRONMENT: {{ $c.environment | quote }}
SHIPSHAPE_LOG_LEVEL: {{ $c.logLevel | quote }}
SHIPSHAPE_LOG_FORMAT: {{ $c.logFormat | quote }}
{{- with $c.trustedProxies }}
SHIPSHAPE_TRUSTED_PROXIES: {{ . | quote }}
{{- end }}
SHIPSHAPE_ANONYMIZE_IPS: {{ $c.anonymizeIps | quote }}
SHIPSHAPE_RETENTION_DAYS: {{ $c.retentionDays | quote }}
SHIPSHAPE_CHAOS_ENABLED: {{ $c.chaosEnabled | quote }}
SHIPSHAPE_DRAIN_SECONDS: {{ $c.drainSeconds | quote }}
SHIPSHAPE_SHUTDOWN_TIMEOUT_SECONDS: {{ $c.shutdownTimeoutSeconds | quote }}
SHIPSHAPE_DB_POOL_SIZE: {{ $c.dbPoolSize | quote }}
SHIPSHAPE_DB_MAX_OVERFLOW: {{ $c.dbMaxOverflow | quote }}
{{- with $c.otelEndpoint }}
SHIPSHAPE_OTEL_ENDPOINT: {{ . | quote }}
{{- end }}
{{- end -}}

{{/*
Secrets reach the app as files (SHIPSHAPE_*_FILE), never as environment variables: a projected
volume of the Secret named by "secret", mounted read-only at /var/run/secrets/shipshape.
"adminToken" adds the operator token (only the web pods need it).
*/}}
{{- define "shipshape.hasAdminToken" -}}
{{- $v := .Values -}}
{{- if $v.secrets.existingSecret -}}
{{- if $v.secrets.adminTokenKey }}true{{ end -}}
{{- else if $v.externalSecret.enabled -}}
{{- if $v.externalSecret.adminToken.key }}true{{ end -}}
{{- else if $v.secrets.adminToken -}}
true
{{- end -}}
{{- end -}}

{{- define "shipshape.secretVolume" -}}
- name: secrets
  projected:
    defaultMode: 288 # 0440: owner and fsGroup may read
    sources:
      - secret:
          name: {{ .secret }}
          items:
            - key: {{ .ctx.Values.secrets.databasePasswordKey }}
              path: database-password
          {{- if .adminToken }}
            - key: {{ .ctx.Values.secrets.adminTokenKey }}
              path: admin-token
          {{- end }}
{{- end -}}

{{- define "shipshape.secretEnv" -}}
- name: SHIPSHAPE_DATABASE_PASSWORD_FILE
  value: /var/run/secrets/shipshape/database-password
{{- if .adminToken }}
- name: SHIPSHAPE_ADMIN_TOKEN_FILE
  value: /var/run/secrets/shipshape/admin-token
{{- end }}
{{- end -}}

{{- define "shipshape.secretMount" -}}
- name: secrets
  mountPath: /var/run/secrets/shipshape
  readOnly: true
{{- end -}}

{{/* Writable /tmp and the pod-level pieces shared by every shipshape pod. */}}
{{- define "shipshape.tmpVolume" -}}
- name: tmp
  emptyDir:
    sizeLimit: {{ .Values.tmpSizeLimit }}
{{- end -}}

{{- define "shipshape.resources" -}}
{{- $r := . -}}
requests:
  {{- range $k, $v := $r.requests }}
  {{- if $v }}
  {{ $k }}: {{ $v | quote }}
  {{- end }}
  {{- end }}
limits:
  {{- range $k, $v := $r.limits }}
  {{- if $v }}
  {{ $k }}: {{ $v | quote }}
  {{- end }}
  {{- end }}
{{- end -}}

{{/*
Checks that JSON schema cannot express; each failure names the values involved.
*/}}
{{- define "shipshape.validate" -}}
{{- $v := .Values -}}
{{- if and $v.postgresql.enabled $v.externalDatabase.host -}}
{{- fail "postgresql.enabled=true conflicts with externalDatabase.host: use the in-chart dev PostgreSQL or an external database, not both" -}}
{{- end -}}
{{- if and (not $v.postgresql.enabled) (not $v.externalDatabase.host) -}}
{{- fail "externalDatabase.host is required when postgresql.enabled=false" -}}
{{- end -}}
{{- if and $v.postgresql.enabled (ne $v.externalDatabase.scheme "postgresql") -}}
{{- fail (printf "externalDatabase.scheme=%s has no effect with postgresql.enabled=true: leave it at postgresql" $v.externalDatabase.scheme) -}}
{{- end -}}
{{- $secretSources := 0 -}}
{{- if $v.secrets.existingSecret }}{{ $secretSources = add1 $secretSources }}{{ end -}}
{{- if $v.externalSecret.enabled }}{{ $secretSources = add1 $secretSources }}{{ end -}}
{{- if gt $secretSources 1 -}}
{{- fail "secrets.existingSecret and externalSecret.enabled are mutually exclusive: the ExternalSecret creates the Secret" -}}
{{- end -}}
{{- if and $v.externalSecret.enabled (not $v.externalSecret.databasePassword.key) -}}
{{- fail "externalSecret.databasePassword.key is required when externalSecret.enabled=true" -}}
{{- end -}}
{{- if and $v.externalSecret.enabled $v.postgresql.enabled -}}
{{- fail "externalSecret.enabled=true needs an external database: set postgresql.enabled=false" -}}
{{- end -}}
{{- if and (or $v.secrets.existingSecret $v.externalSecret.enabled) (or $v.externalDatabase.password $v.secrets.adminToken $v.postgresql.auth.password) -}}
{{- fail "externalDatabase.password, secrets.adminToken and postgresql.auth.password must stay empty with secrets.existingSecret or externalSecret.enabled (the chart renders no Secret)" -}}
{{- end -}}
{{- if and (not $v.postgresql.enabled) (not $v.secrets.existingSecret) (not $v.externalSecret.enabled) (not $v.externalDatabase.password) -}}
{{- fail "externalDatabase.password is required when the chart creates the Secret (or set secrets.existingSecret or externalSecret.enabled)" -}}
{{- end -}}
{{- if and $v.ingress.enabled (not $v.ingress.hosts) -}}
{{- fail "ingress.hosts must list at least one host when ingress.enabled=true" -}}
{{- end -}}
{{- if and $v.httpRoute.enabled (not $v.httpRoute.parentRefs) -}}
{{- fail "httpRoute.parentRefs must list at least one Gateway when httpRoute.enabled=true" -}}
{{- end -}}
{{- if and $v.autoscaling.enabled (gt (int $v.autoscaling.minReplicas) (int $v.autoscaling.maxReplicas)) -}}
{{- fail (printf "autoscaling.minReplicas (%d) must not exceed autoscaling.maxReplicas (%d)" (int $v.autoscaling.minReplicas) (int $v.autoscaling.maxReplicas)) -}}
{{- end -}}
{{- if and $v.autoscaling.enabled (eq (int $v.autoscaling.targetCPUUtilizationPercentage) 0) (eq (int $v.autoscaling.targetMemoryUtilizationPercentage) 0) (not $v.autoscaling.customMetric.enabled) -}}
{{- fail "autoscaling.enabled=true needs a metric: autoscaling.targetCPUUtilizationPercentage, autoscaling.targetMemoryUtilizationPercentage or autoscaling.customMetric.enabled" -}}
{{- end -}}
{{- $needed := include "shipshape.shutdownBudget" . | int -}}
{{- if and (not (kindIs "invalid" $v.terminationGracePeriodSeconds)) (lt (int $v.terminationGracePeriodSeconds) $needed) -}}
{{- fail (printf "terminationGracePeriodSeconds=%d is too short: it must be at least preStopSleepSeconds + config.drainSeconds + config.shutdownTimeoutSeconds + shutdownMarginSeconds = %d (leave it null to derive it)" (int $v.terminationGracePeriodSeconds) $needed) -}}
{{- end -}}
{{- if include "shipshape.alb" . -}}
{{- $serving := add (int $v.preStopSleepSeconds) (int $v.config.drainSeconds) -}}
{{- if lt $serving (int $v.ingress.alb.deregistrationDelaySeconds) -}}
{{- fail (printf "ingress.alb.deregistrationDelaySeconds=%d exceeds preStopSleepSeconds + config.drainSeconds = %d: the ALB could still send requests to a pod that has stopped serving" (int $v.ingress.alb.deregistrationDelaySeconds) $serving) -}}
{{- end -}}
{{- if contains "deregistration_delay" (index $v.ingress.annotations "alb.ingress.kubernetes.io/target-group-attributes" | default "") -}}
{{- fail "set the ALB deregistration delay with ingress.alb.deregistrationDelaySeconds, not in the alb.ingress.kubernetes.io/target-group-attributes annotation (the chart checks it against the drain time)" -}}
{{- end -}}
{{- end -}}
{{- $checkNeeds := add (int $v.checkWrites.durationSeconds) (int $v.checkWrites.requestTimeoutSeconds) -}}
{{- if and $v.checkWrites.enabled (le (int $v.checkWrites.activeDeadlineSeconds) $checkNeeds) -}}
{{- fail (printf "checkWrites.activeDeadlineSeconds (%d) must exceed checkWrites.durationSeconds + checkWrites.requestTimeoutSeconds (%d): the pod would be killed before it reads the writes back and reports" (int $v.checkWrites.activeDeadlineSeconds) $checkNeeds) -}}
{{- end -}}
{{- if and $v.migration.enabled (ge (int $v.migration.waitSeconds) (int $v.migration.activeDeadlineSeconds)) -}}
{{- fail (printf "migration.waitSeconds (%d) must be shorter than migration.activeDeadlineSeconds (%d): the Job would be killed before the wait ends and its log would not say why" (int $v.migration.waitSeconds) (int $v.migration.activeDeadlineSeconds)) -}}
{{- end -}}
{{- if and $v.config.chaosEnabled (eq $v.config.environment "production") -}}
{{- fail "config.chaosEnabled=true is refused when config.environment=production" -}}
{{- end -}}
{{- end -}}

{{/*
checkov findings accepted by design, rendered as checkov.io/skipN annotations with their reason.
Arguments: "image" (dict with digest and pullPolicy), "cpuLimit" (the container's CPU limit),
"extra" (list of "CKV_ID=reason" strings).
*/}}
{{- define "shipshape.checkovSkips" -}}
{{- $skips := list -}}
{{- if not .image.digest -}}
{{- $skips = append $skips "CKV_K8S_43=The image is pinned to an immutable release tag; set image.digest to pin it by digest" -}}
{{- end -}}
{{- if ne .image.pullPolicy "Always" -}}
{{- $skips = append $skips "CKV_K8S_15=Release tags are immutable, so IfNotPresent is safe and keeps restarts independent of the registry; otherwise set image.pullPolicy to Always" -}}
{{- end -}}
{{- if not .cpuLimit -}}
{{- $skips = append $skips "CKV_K8S_11=No CPU limit by design: CFS throttling hurts latency while the CPU request already guarantees the share; set resources.limits.cpu to add one" -}}
{{- end -}}
{{- range $i, $s := concat $skips (.extra | default list) }}
checkov.io/skip{{ add1 $i }}: {{ $s | quote }}
{{- end }}
{{- end -}}

{{/* Pod spec pieces shared by the migration Job, the prune CronJob and the test pod. */}}
{{- define "shipshape.jobPodSpec" -}}
serviceAccountName: {{ .serviceAccount }}
automountServiceAccountToken: false
{{- with .ctx.Values.imagePullSecrets }}
imagePullSecrets:
  {{- range . }}
  - name: {{ . }}
  {{- end }}
{{- end }}
securityContext:
  {{- toYaml .ctx.Values.podSecurityContext | nindent 2 }}
enableServiceLinks: false
{{- with .ctx.Values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .ctx.Values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
volumes:
  {{- include "shipshape.tmpVolume" .ctx | nindent 2 }}
  {{- with .secret }}
  {{- include "shipshape.secretVolume" (dict "ctx" $.ctx "secret" .) | nindent 2 }}
  {{- end }}
{{- end -}}

{{- define "shipshape.jobContainerCommon" -}}
image: {{ include "shipshape.image" .ctx }}
imagePullPolicy: {{ .ctx.Values.image.pullPolicy }}
resources:
  {{- include "shipshape.resources" .ctx.Values.jobs.resources | nindent 2 }}
securityContext:
  {{- toYaml .ctx.Values.containerSecurityContext | nindent 2 }}
volumeMounts:
  - name: tmp
    mountPath: /tmp
  {{- if .secret }}
  {{- include "shipshape.secretMount" . | nindent 2 }}
  {{- end }}
{{- end -}}

{{/*
NetworkPolicy egress rules: cluster DNS, and the database. DNS goes to the cluster DNS pods and to
networkPolicy.dns.cidrs: with NodeLocal DNSCache the answer comes from a host-network cache on the
node (169.254.20.10, and the kube-dns Service IP in iptables mode), which no pod selector matches.
*/}}
{{- define "shipshape.np.dnsEgress" -}}
{{- $dns := .Values.networkPolicy.dns -}}
- to:
    - namespaceSelector:
        matchLabels:
          kubernetes.io/metadata.name: {{ $dns.namespace }}
      podSelector:
        matchLabels:
          {{- toYaml $dns.podLabels | nindent 10 }}
    {{- range $dns.cidrs }}
    - ipBlock:
        cidr: {{ . }}
    {{- end }}
  ports:
    - port: 53
      protocol: UDP
    - port: 53
      protocol: TCP
{{- end }}
{{- define "shipshape.np.databaseEgress" -}}
- ports:
    - port: {{ include "shipshape.databasePort" . }}
      protocol: TCP
  {{- if .Values.postgresql.enabled }}
  to:
    - podSelector:
        matchLabels:
          {{- include "shipshape.selectorLabels" . | nindent 10 }}
          app.kubernetes.io/component: database
  {{- else if .Values.externalDatabase.cidrs }}
  to:
    {{- range .Values.externalDatabase.cidrs }}
    - ipBlock:
        cidr: {{ . }}
    {{- end }}
  {{- end }}
{{- end }}

{{/*
One shutdown budget (seconds) from SIGTERM's cause to the process exit: the preStop sleep, the
app's drain (still serving, not ready), SHIPSHAPE_SHUTDOWN_TIMEOUT_SECONDS (in-flight requests and
the write queues' flush share it) and a margin for the process to exit.
*/}}
{{- define "shipshape.shutdownBudget" -}}
{{- $v := .Values -}}
{{- add (int $v.preStopSleepSeconds) (int $v.config.drainSeconds) (int $v.config.shutdownTimeoutSeconds) (int $v.shutdownMarginSeconds) -}}
{{- end -}}

{{/* terminationGracePeriodSeconds: the value when set, else derived from the shutdown budget. */}}
{{- define "shipshape.terminationGracePeriodSeconds" -}}
{{- if kindIs "invalid" .Values.terminationGracePeriodSeconds -}}
{{- include "shipshape.shutdownBudget" . -}}
{{- else -}}
{{- int .Values.terminationGracePeriodSeconds -}}
{{- end -}}
{{- end -}}

{{/* "true" when the Ingress is served by the AWS Load Balancer Controller. */}}
{{- define "shipshape.alb" -}}
{{- if and .Values.ingress.enabled (eq .Values.ingress.className "alb") -}}true{{- end -}}
{{- end -}}

{{/*
Whether the cluster serves an API, by "group/version/Kind" (.Capabilities.APIVersions: the live
cluster on install/upgrade, `--api-versions` with helm template, the cluster's with Argo CD).
*/}}
{{- define "shipshape.hasApi" -}}
{{- if .ctx.Capabilities.APIVersions.Has .api -}}true{{- end -}}
{{- end -}}

{{- define "shipshape.validateKubeVersion" -}}
{{- if not (semverCompare .Chart.KubeVersion .Capabilities.KubeVersion.Version) -}}
{{- fail (printf "Kubernetes %s is not supported: this chart needs kubeVersion %s" .Capabilities.KubeVersion.Version .Chart.KubeVersion) -}}
{{- end -}}
{{- end -}}
