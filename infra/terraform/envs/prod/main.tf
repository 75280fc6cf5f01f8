# Thin root: the environment's differences live in modules/environment
# (settings) and in terraform.tfvars (account, region, people, CIDRs).
#
# The cluster root: AWS only (VPC, EKS, RDS, ECR, the app's identity and secrets). The cluster
# add-ons (Helm releases) are the second root, ./addons, applied after this one: the helm provider
# is never configured from a cluster created in the same apply (infra/README.md, Two roots).

locals {
  environment = "prod"

  # Names the chart values and GitOps manifests use, fixed here (tests/deploy/test_terraform_wiring.py
  # checks both sides): namespace, service account, role name, secret names.
  app_namespace       = "shipshape"
  app_service_account = "shipshape"
  app_role_name       = "${module.environment.name}-app"
  app_secret_prefix   = "${var.project}/${local.environment}"

  settings = module.environment.settings

  # Namespaces of the Helm releases of ./addons (modules/addons): Helm keeps each release in
  # Secrets there, which the CI plan role must read to refresh them. Never the app's namespace.
  # tests/deploy/test_terraform_roots.py keeps this list equal to the releases' namespaces.
  addon_namespaces = ["kube-system", "external-dns", "cert-manager", "external-secrets", "argocd"]
}

module "environment" {
  source = "../../modules/environment"

  project     = var.project
  environment = local.environment
  owner       = var.owner
  extra_tags  = var.extra_tags
}

module "network" {
  source = "../../modules/network"

  name                    = module.environment.name
  vpc_cidr                = local.settings.vpc_cidr
  az_count                = 3
  single_nat_gateway      = local.settings.single_nat_gateway
  cluster_name            = module.environment.name
  flow_log_retention_days = local.settings.flow_log_retention_days
  tags                    = { Component = "network" }
}

module "cluster" {
  source = "../../modules/cluster"

  name                   = module.environment.name
  kubernetes_version     = var.kubernetes_version
  subnet_ids             = module.network.private_subnet_ids
  endpoint_public_access = length(var.cluster_public_access_cidrs) > 0
  public_access_cidrs    = var.cluster_public_access_cidrs
  admin_principal_arns   = distinct(concat(var.cluster_admin_principal_arns, [var.ci_apply_role_arn]))
  viewer_principal_arns  = [var.ci_plan_role_arn]
  viewer_namespaces      = local.addon_namespaces
  deletion_protection    = local.settings.eks_deletion_protection
  node_instance_types    = local.settings.node_instance_types
  node_capacity_type     = local.settings.node_capacity_type
  node_min_size          = local.settings.node_min_size
  node_desired_size      = local.settings.node_desired_size
  node_max_size          = local.settings.node_max_size
  log_retention_days     = local.settings.cluster_log_retention_days
  tags                   = { Component = "cluster" }
}

module "database" {
  source = "../../modules/database"

  name                         = module.environment.name
  vpc_id                       = module.network.vpc_id
  subnet_ids                   = module.network.database_subnet_ids
  allowed_security_groups      = { eks-cluster = module.cluster.cluster_security_group_id }
  instance_class               = local.settings.db_instance_class
  allocated_storage            = local.settings.db_allocated_storage
  max_allocated_storage        = local.settings.db_max_allocated_storage
  multi_az                     = local.settings.db_multi_az
  deletion_protection          = local.settings.db_deletion_protection
  skip_final_snapshot          = local.settings.db_skip_final_snapshot
  backup_retention_days        = local.settings.db_backup_retention_days
  performance_insights_enabled = local.settings.db_performance_insights
  log_retention_days           = local.settings.log_retention_days
  tags                         = { Component = "database" }
}

module "registry" {
  source = "../../modules/registry"

  repository_name     = "shipshape"
  force_delete        = local.settings.ecr_force_delete
  push_principal_arns = var.ecr_push_principal_arns
  tags                = { Component = "registry" }
}

module "app_secrets" {
  source = "../../modules/app-secrets"

  name_prefix          = local.app_secret_prefix
  db_username          = var.app_db_username
  secret_version       = var.app_secret_version
  recovery_window_days = local.settings.secret_recovery_days
  tags                 = { Component = "app" }
}

module "app_identity" {
  source = "../../modules/workload-identity"

  name                     = local.app_role_name
  cluster_name             = module.cluster.name
  cluster_arn              = module.cluster.arn
  oidc_provider_arn        = module.cluster.oidc_provider_arn
  oidc_issuer              = module.cluster.oidc_issuer
  namespace                = local.app_namespace
  service_account          = local.app_service_account
  pod_identity_association = var.app_pod_identity
  secret_arns              = values(module.app_secrets.secret_arns)
  secret_kms_key_arn       = module.app_secrets.kms_key_arn
  tags                     = { Component = "app" }
}
