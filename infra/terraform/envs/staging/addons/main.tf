# The add-ons root of staging: the cluster add-ons (Helm releases, their IRSA roles), applied after
# the cluster root (..). HashiCorp's guidance for the helm and kubernetes providers: never
# configure them from a cluster created in the same apply (its endpoint is unknown on the first
# plan, and a change that replaces the cluster would be planned against the old one). So the
# cluster root creates the cluster and this root reads it by name.

locals {
  environment = "staging"

  # The app's namespace (the cluster root's local.app_namespace): the only one besides Argo CD's
  # that the app of apps may deploy into.
  app_namespace = "shipshape"

  settings = module.environment.settings
}

module "environment" {
  source = "../../../modules/environment"

  project     = var.project
  environment = local.environment
  owner       = var.owner
  extra_tags  = var.extra_tags
}

# The cluster of the cluster root, by the name it gives it (<project>-<env>). Read during plan: it
# must exist (CI plans this root only once it does, infra/terraform/scripts/cluster-ready.sh).
data "aws_eks_cluster" "this" {
  name = module.environment.name
}

# The cluster's IAM OIDC provider (created by the cluster root), for the add-ons' IRSA trust.
data "aws_iam_openid_connect_provider" "cluster" {
  url = data.aws_eks_cluster.this.identity[0].oidc[0].issuer
}

module "addons" {
  source = "../../../modules/addons"

  cluster_name        = data.aws_eks_cluster.this.name
  oidc_provider_arn   = data.aws_iam_openid_connect_provider.cluster.arn
  oidc_issuer         = trimprefix(data.aws_eks_cluster.this.identity[0].oidc[0].issuer, "https://")
  vpc_id              = data.aws_eks_cluster.this.vpc_config[0].vpc_id
  route53_zone_ids    = var.route53_zone_ids
  domain_filters      = var.domain_filters
  enable_external_dns = length(var.route53_zone_ids) > 0
  enable_cert_manager = length(var.route53_zone_ids) > 0
  acme_email          = var.acme_email
  app_namespace       = local.app_namespace
  controller_replicas = local.settings.addon_controller_replicas
  argocd_replicas     = local.settings.argocd_replicas
  load_balancer_tags  = merge(module.environment.tags, { Component = "ingress" })
  tags                = { Component = "addons" }

  kubernetes_version        = data.aws_eks_cluster.this.version
  enable_cluster_autoscaler = var.enable_cluster_autoscaler

  # This cluster's Argo CD deploys this environment only (one cluster per environment).
  argocd_bootstrap_repo_url = var.gitops_repo_url
  argocd_bootstrap_path     = var.argocd_bootstrap ? "deploy/gitops/argocd/${local.environment}" : ""
}
