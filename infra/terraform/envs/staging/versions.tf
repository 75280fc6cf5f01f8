terraform {
  # Pinned: Terraform 1.13.x and exact provider patch series. Commit the
  # .terraform.lock.hcl written by `terraform init` (see infra/README.md).
  required_version = "~> 1.13"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 6.14.0"
    }
    helm = {
      source  = "hashicorp/helm"
      version = "~> 3.0.2"
    }
  }

  # Partial configuration: bucket and region come from backend.hcl
  # (`terraform init -backend-config=backend.hcl`, see backend.hcl.example).
  # State locking uses S3 conditional writes (use_lockfile), no DynamoDB table.
  backend "s3" {
    key          = "shipshape/staging/terraform.tfstate"
    encrypt      = true
    use_lockfile = true
  }
}
