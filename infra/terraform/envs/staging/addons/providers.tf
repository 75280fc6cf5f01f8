provider "aws" {
  region              = var.region
  allowed_account_ids = var.allowed_account_ids

  # Common tags on every taggable resource; modules add Name and Component.
  default_tags {
    tags = module.environment.tags
  }
}

# Helm talks to the cluster the cluster root (..) created, read by name during plan, so every value
# here is known before any change is made. It authenticates with the caller's AWS identity: the CI
# apply role (cluster admin) or the CI plan role (reads the add-ons' namespaces only).
provider "helm" {
  kubernetes = {
    host                   = data.aws_eks_cluster.this.endpoint
    cluster_ca_certificate = base64decode(data.aws_eks_cluster.this.certificate_authority[0].data)
    exec = {
      api_version = "client.authentication.k8s.io/v1beta1"
      command     = "aws"
      args        = ["eks", "get-token", "--cluster-name", data.aws_eks_cluster.this.name, "--region", var.region]
    }
  }
}
