# Naming, tagging and per-environment sizing in one place, so that the
# environment roots stay identical apart from the environment name and the
# differences between dev, staging and prod are reviewable in a single table.

locals {
  name = "${var.project}-${var.environment}"

  tags = merge(var.extra_tags, {
    Project     = var.project
    Environment = var.environment
    Owner       = var.owner
    Repository  = var.repository
    ManagedBy   = "terraform"
  })

  profiles = {
    dev = {
      vpc_cidr                   = "10.10.0.0/16"
      single_nat_gateway         = true
      log_retention_days         = 30
      flow_log_retention_days    = 30
      node_instance_types        = ["t3.large", "t3a.large"]
      node_capacity_type         = "SPOT"
      node_min_size              = 1
      node_desired_size          = 2
      node_max_size              = 3
      db_instance_class          = "db.t4g.micro"
      db_allocated_storage       = 20
      db_max_allocated_storage   = 50
      db_multi_az                = false
      db_deletion_protection     = false
      db_skip_final_snapshot     = true
      db_backup_retention_days   = 3
      db_performance_insights    = false
      ecr_force_delete           = true
      argocd_replicas            = 1
      addon_controller_replicas  = 1
      cluster_log_retention_days = 30
      eks_deletion_protection    = false
      secret_recovery_days       = 0
    }
    staging = {
      vpc_cidr                   = "10.20.0.0/16"
      single_nat_gateway         = true
      log_retention_days         = 90
      flow_log_retention_days    = 90
      node_instance_types        = ["m6i.large", "m6a.large"]
      node_capacity_type         = "ON_DEMAND"
      node_min_size              = 2
      node_desired_size          = 3
      node_max_size              = 6
      db_instance_class          = "db.t4g.medium"
      db_allocated_storage       = 20
      db_max_allocated_storage   = 100
      db_multi_az                = false
      db_deletion_protection     = true
      db_skip_final_snapshot     = false
      db_backup_retention_days   = 7
      db_performance_insights    = true
      ecr_force_delete           = false
      argocd_replicas            = 2
      addon_controller_replicas  = 2
      cluster_log_retention_days = 90
      eks_deletion_protection    = true
      secret_recovery_days       = 7
    }
    prod = {
      vpc_cidr                   = "10.30.0.0/16"
      single_nat_gateway         = false
      log_retention_days         = 365
      flow_log_retention_days    = 365
      node_instance_types        = ["m6i.large", "m6a.large", "m7i.large"]
      node_capacity_type         = "ON_DEMAND"
      node_min_size              = 3
      node_desired_size          = 3
      node_max_size              = 9
      db_instance_class          = "db.m7g.large"
      db_allocated_storage       = 50
      db_max_allocated_storage   = 500
      db_multi_az                = true
      db_deletion_protection     = true
      db_skip_final_snapshot     = false
      db_backup_retention_days   = 30
      db_performance_insights    = true
      ecr_force_delete           = false
      argocd_replicas            = 2
      addon_controller_replicas  = 2
      cluster_log_retention_days = 365
      eks_deletion_protection    = true
      secret_recovery_days       = 30
    }
  }

  settings = local.profiles[var.environment]
}
