provider "aws" {
  region              = var.region
  allowed_account_ids = var.allowed_account_ids

  # Common tags on every taggable resource; modules add Name and Component.
  default_tags {
    tags = module.environment.tags
  }
}

# Helm talks to the cluster created in this root, authenticating with the
# caller's AWS identity (which must be listed in cluster_admin_principal_arns).
provider "helm" {
  kubernetes = {
    host                   = module.cluster.endpoint
    cluster_ca_certificate = base64decode(module.cluster.certificate_authority_data)
    exec = {
      api_version = "client.authentication.k8s.io/v1beta1"
      command     = "aws"
      args        = ["eks", "get-token", "--cluster-name", module.cluster.name, "--region", var.region]
    }
  }
}
