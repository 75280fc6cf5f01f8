variable "region" {
  description = "AWS region of the environment."
  type        = string

  validation {
    condition     = can(regex("^[a-z]{2}(-gov)?-[a-z]+-[0-9]$", var.region))
    error_message = "region must be an AWS region name such as eu-west-1."
  }
}

variable "allowed_account_ids" {
  description = "AWS account IDs this root may be applied to (the cluster root's) (guards against applying with the wrong credentials)."
  type        = list(string)

  validation {
    condition     = length(var.allowed_account_ids) > 0 && alltrue([for id in var.allowed_account_ids : can(regex("^[0-9]{12}$", id))])
    error_message = "allowed_account_ids must list 12-digit AWS account IDs."
  }
}

variable "project" {
  description = "Project name: the cluster is <project>-<env> (as named by the cluster root) and prefixes the add-ons' IAM roles."
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

variable "route53_zone_ids" {
  description = "Route 53 hosted zones for ExternalDNS records and cert-manager DNS-01 challenges; empty disables both add-ons."
  type        = list(string)
  default     = []
}

variable "domain_filters" {
  description = "Domains ExternalDNS may manage (for example [\"prod.example.com\"])."
  type        = list(string)
  default     = []
}

variable "acme_email" {
  description = "Contact e-mail of the ACME account of the cert-manager ClusterIssuers (needed when route53_zone_ids is set)."
  type        = string
  default     = ""
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
