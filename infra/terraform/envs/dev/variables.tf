variable "region" {
  description = "AWS region of the environment."
  type        = string

  validation {
    condition     = can(regex("^[a-z]{2}(-gov)?-[a-z]+-[0-9]$", var.region))
    error_message = "region must be an AWS region name such as eu-west-1."
  }
}

variable "allowed_account_ids" {
  description = "AWS account IDs this root may be applied to (guards against applying with the wrong credentials)."
  type        = list(string)

  validation {
    condition     = length(var.allowed_account_ids) > 0 && alltrue([for id in var.allowed_account_ids : can(regex("^[0-9]{12}$", id))])
    error_message = "allowed_account_ids must list 12-digit AWS account IDs."
  }
}

variable "project" {
  description = "Project name: prefix of resource names (<project>-<env>) and of the app's secret names (<project>/<env>/...)."
  type        = string
  default     = "shipshape"
}

variable "owner" {
  description = "Owner tag of every resource (team accountable for the environment)."
  type        = string
  default     = "platform-team"
}

variable "extra_tags" {
  description = "Additional tags on every resource (for example CostCenter)."
  type        = map(string)
  default     = {}
}

variable "kubernetes_version" {
  description = "Kubernetes minor version of the EKS cluster (one in EKS standard support; upgrade one minor at a time)."
  type        = string
  default     = "1.36"
}

variable "cluster_admin_principal_arns" {
  description = "IAM roles granted cluster-admin through EKS access entries; include the role that runs Terraform (the helm provider needs it)."
  type        = list(string)
  default     = []
}

variable "cluster_viewer_principal_arns" {
  description = "IAM roles granted read-only cluster access (including Secrets) through EKS access entries: the CI plan role, whose refresh of the Helm releases reads them."
  type        = list(string)
  default     = []
}

variable "cluster_public_access_cidrs" {
  description = "CIDRs allowed to reach the public Kubernetes API endpoint; empty keeps the API private (run Terraform from inside the VPC or through a VPN)."
  type        = list(string)
  default     = []
}

variable "route53_zone_ids" {
  description = "Route 53 hosted zones for ExternalDNS records and cert-manager DNS-01 challenges; empty disables both add-ons."
  type        = list(string)
  default     = []
}

variable "domain_filters" {
  description = "Domains ExternalDNS may manage (for example [\"dev.example.com\"])."
  type        = list(string)
  default     = []
}

variable "acme_email" {
  description = "Contact e-mail of the ACME account of the cert-manager ClusterIssuers (needed when route53_zone_ids is set)."
  type        = string
  default     = ""
}

variable "ecr_push_principal_arns" {
  description = "IAM roles allowed to push images to the repository (the CI role)."
  type        = list(string)
  default     = []
}

variable "app_pod_identity" {
  description = "Also bind the app role with an EKS Pod Identity association (IRSA through the chart's service account annotation always works)."
  type        = bool
  default     = false
}

variable "enable_cluster_autoscaler" {
  description = "Install the Cluster Autoscaler, which scales the node group between the profile's node_min_size and node_max_size."
  type        = bool
  default     = true
}

variable "argocd_bootstrap" {
  description = "Let Terraform install the Argo CD app of apps for this environment (deploy/gitops/argocd/<env>); false leaves the bootstrap to `kubectl apply -k`."
  type        = bool
  default     = true
}

variable "gitops_repo_url" {
  description = "Git repository holding deploy/gitops and charts/shipshape, read by Argo CD."
  type        = string
  default     = "https://github.com/shipshape/shipshape.git"
}

variable "app_db_username" {
  description = "The app's own PostgreSQL role (chart value externalDatabase.user); not the RDS master user."
  type        = string
  default     = "shipshape"
}

variable "app_secret_version" {
  description = "Version of the generated app secrets (database password, operator token); bump it to generate new values (infra/README.md, App secrets)."
  type        = number
  default     = 1
}
