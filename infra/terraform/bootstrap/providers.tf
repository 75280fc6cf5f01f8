provider "aws" {
  region              = var.region
  allowed_account_ids = var.allowed_account_ids

  default_tags {
    tags = {
      Project    = "shipshape"
      Component  = "terraform-state"
      Owner      = var.owner
      Repository = "shipshape/infra/terraform"
      ManagedBy  = "terraform"
    }
  }
}
