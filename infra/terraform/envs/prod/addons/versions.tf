terraform {
  # Same Terraform and provider pins as the cluster root (../versions.tf); this root's own lock
  # file (.terraform.lock.hcl) is created and committed the same way (infra/README.md).
  required_version = "~> 1.13"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 6.28.0"
    }
    helm = {
      source  = "hashicorp/helm"
      version = "~> 3.1.0"
    }
  }

  # Its own state next to the cluster root's, in the same bucket (-backend-config, or
  # ../backend.hcl by hand). State locking uses S3 conditional writes, no DynamoDB table.
  backend "s3" {
    key          = "shipshape/prod/addons.tfstate"
    encrypt      = true
    use_lockfile = true
  }
}
