# `terraform test` for the environment profiles. The module needs no provider,
# so these run offline (tests/deploy/test_terraform.py runs them).

run "dev_is_cheap_and_disposable" {
  command = plan

  variables {
    environment = "dev"
  }

  assert {
    condition     = output.name == "shipshape-dev"
    error_message = "dev name prefix must be shipshape-dev."
  }

  assert {
    condition     = output.settings.single_nat_gateway && !output.settings.db_multi_az
    error_message = "dev uses a single NAT gateway and a single-AZ database."
  }

  assert {
    condition     = !output.settings.db_deletion_protection && output.settings.db_skip_final_snapshot
    error_message = "dev databases can be destroyed without a final snapshot."
  }
}

run "prod_is_highly_available_and_protected" {
  command = plan

  variables {
    environment = "prod"
  }

  assert {
    condition     = output.is_production
    error_message = "prod must be flagged as production."
  }

  assert {
    condition     = !output.settings.single_nat_gateway
    error_message = "prod needs one NAT gateway per availability zone."
  }

  assert {
    condition     = output.settings.db_multi_az && output.settings.db_deletion_protection && !output.settings.db_skip_final_snapshot
    error_message = "prod database must be Multi-AZ, deletion protected and keep a final snapshot."
  }

  assert {
    condition     = output.settings.db_backup_retention_days >= 30 && output.settings.log_retention_days >= 365
    error_message = "prod keeps 30 days of backups and a year of logs."
  }

  assert {
    condition     = output.settings.node_min_size >= 3 && output.settings.node_capacity_type == "ON_DEMAND"
    error_message = "prod runs at least one on-demand node per availability zone."
  }
}

run "tags_are_complete" {
  command = plan

  variables {
    environment = "staging"
    extra_tags = {
      CostCenter = "1234"
      Project    = "overridden"
    }
  }

  assert {
    condition     = output.tags.Project == "shipshape" && output.tags.Environment == "staging" && output.tags.ManagedBy == "terraform"
    error_message = "mandatory tags win over extra_tags."
  }

  assert {
    condition     = output.tags.CostCenter == "1234"
    error_message = "extra tags are kept."
  }
}

run "networks_do_not_overlap" {
  command = plan

  variables {
    environment = "dev"
  }

  assert {
    condition = length(distinct([
      for p in ["dev", "staging", "prod"] : local.profiles[p].vpc_cidr
    ])) == 3
    error_message = "each environment needs its own VPC CIDR so that they can be peered later."
  }
}

run "rejects_unknown_environment" {
  command = plan

  variables {
    environment = "qa"
  }

  expect_failures = [var.environment]
}
