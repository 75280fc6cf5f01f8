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

# People with cluster-admin (the CI apply role below is added to them).
cluster_admin_principal_arns = ["arn:aws:iam::222222222222:role/platform-admin"]

# The CI roles (GitHub environments plan-staging and staging). Plan: reads the add-ons' namespaces,
# Secrets included (Helm release refresh), nothing else; apply: cluster admin (infra/README.md).
ci_plan_role_arn  = "arn:aws:iam::222222222222:role/terraform-ci-plan"
ci_apply_role_arn = "arn:aws:iam::222222222222:role/terraform-ci"

# Who reaches the public API endpoint: the egress of the runners that apply ./addons (and of the
# admins' VPN). Required, never 0.0.0.0/0; [] = private API only, runners inside the VPC.
# PLACEHOLDER (RFC 5737 documentation range): put your runners' static egress here
# (infra/README.md, CI and the cluster API).
cluster_public_access_cidrs = ["198.51.100.0/24"]

# CI role that pushes images.
ecr_push_principal_arns = ["arn:aws:iam::222222222222:role/github-actions-push"]

app_pod_identity = false
