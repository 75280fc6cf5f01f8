# Inputs of the staging add-ons root, committed and reviewed like code (CI plans and applies with
# -input=false). Nothing secret belongs here. Region and account are the cluster root's (../),
# a test keeps them equal; the account id is a placeholder.

region              = "eu-west-1"
allowed_account_ids = ["222222222222"]

owner = "platform-team"
extra_tags = {
  CostCenter = "engineering"
}

# Hosted zone for ExternalDNS and cert-manager (empty disables both); the chart's ingress hosts
# of this environment must be inside domain_filters.
route53_zone_ids = ["Z0123456789EXAMPLE"]
acme_email       = "platform-team@example.com"
domain_filters   = ["staging.example.com"]

# Cluster Autoscaler for the node group; Argo CD app of apps syncing deploy/gitops/argocd/<env>.
enable_cluster_autoscaler = true
argocd_bootstrap          = true
