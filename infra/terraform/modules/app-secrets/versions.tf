terraform {
  # Write-only arguments (secret_string_wo) and ephemeral resources need Terraform >= 1.11.
  required_version = ">= 1.11.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 6.0.0, < 7.0.0"
    }
  }
}
