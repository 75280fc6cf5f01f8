terraform {
  # Terraform 1.13 or a later 1.x (CI runs 1.13.x, .github/workflows/terraform.yml). The provider
  # lock file (.terraform.lock.hcl) is created by CI on the first plan and then committed; from
  # then on every init reads it (-lockfile=readonly). See infra/README.md, "Provider lock file".
  required_version = "~> 1.13"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 6.28.0"
    }
  }

  # Partial configuration: bucket and region come from -backend-config (CI) or backend.hcl
  # (see backend.hcl.example). State locking uses S3 conditional writes, no DynamoDB table.
  backend "s3" {
    key          = "shipshape/prod/terraform.tfstate"
    encrypt      = true
    use_lockfile = true
  }
}
