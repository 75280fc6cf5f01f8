# Inputs of the staging root, committed and reviewed like code (CI plans and applies with
# -input=false, so every required variable has its value here). Nothing secret belongs here:
# account ids, region, role ARNs, CIDRs and DNS names only. The account id is a placeholder:
# put yours (allowed_account_ids refuses to apply anywhere else).

region              = "eu-west-1"
allowed_account_ids = ["222222222222"]

owner = "platform-team"
extra_tags = {
  CostCenter = "engineering"
}

# In EKS standard support (see infra/README.md, Kubernetes version).
kubernetes_version = "1.36"

# Admins, and the role the apply job runs as (the Helm provider installs the add-ons with it).
cluster_admin_principal_arns = [
  "arn:aws:iam::222222222222:role/platform-admin",
  "arn:aws:iam::222222222222:role/terraform-ci",
]

# The read-only CI plan role: a plan refreshes the Helm releases, which reads the cluster.
cluster_viewer_principal_arns = ["arn:aws:iam::222222222222:role/terraform-ci-plan"]

# Where Terraform runs from (the egress of self-hosted runners / VPN). Empty = private API only.
cluster_public_access_cidrs = ["203.0.113.0/24"]

# Hosted zone for ExternalDNS and cert-manager (empty disables both); the chart's ingress hosts
# of this environment must be inside domain_filters.
route53_zone_ids = ["Z0123456789EXAMPLE"]
acme_email       = "platform-team@example.com"
domain_filters   = ["staging.example.com"]

# CI role that pushes images.
ecr_push_principal_arns = ["arn:aws:iam::222222222222:role/github-actions-push"]

app_pod_identity = false

# Cluster Autoscaler for the node group; Argo CD app of apps syncing deploy/gitops/argocd/<env>.
enable_cluster_autoscaler = true
argocd_bootstrap          = true
