terraform {
  required_version = "~> 1.13"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 6.28.0"
    }
  }

  # First apply runs with local state (the bucket does not exist yet). Then
  # move this state into the bucket it created:
  #   cp backend.tf.example backend.tf
  #   terraform init -migrate-state -backend-config=../envs/<env>/backend.hcl
  # See infra/README.md, "Bootstrap".
}
