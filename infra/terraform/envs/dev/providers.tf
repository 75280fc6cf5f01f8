# AWS only: the cluster's add-ons and the helm provider are in ./addons, applied second.
provider "aws" {
  region              = var.region
  allowed_account_ids = var.allowed_account_ids

  # Common tags on every taggable resource; modules add Name and Component.
  default_tags {
    tags = module.environment.tags
  }
}
