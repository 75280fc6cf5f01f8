variable "name" {
  description = "Name of the IAM role (for example shipshape-prod-app); fixed, so that its ARN can be written in the chart values."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9+=,.@_-]{1,64}$", var.name))
    error_message = "name must be a valid IAM role name (at most 64 characters)."
  }
}

variable "cluster_name" {
  description = "EKS cluster whose pods may assume the role."
  type        = string
}

variable "cluster_arn" {
  description = "ARN of that cluster (Pod Identity trust condition)."
  type        = string
}

variable "oidc_provider_arn" {
  description = "ARN of the cluster's IAM OIDC provider (IRSA)."
  type        = string
}

variable "oidc_issuer" {
  description = "OIDC issuer of the cluster without https:// (prefix of the IRSA condition keys)."
  type        = string
}

variable "namespace" {
  description = "Kubernetes namespace of the workload."
  type        = string
  default     = "shipshape"
}

variable "service_account" {
  description = "Kubernetes service account of the workload."
  type        = string
  default     = "shipshape"
}

variable "pod_identity_association" {
  description = "Also bind the role with an EKS Pod Identity association (the trust policy always accepts both IRSA and Pod Identity for this namespace and service account)."
  type        = bool
  default     = false
}

variable "secret_arns" {
  description = "ARNs of the Secrets Manager secrets the workload may read (its database credentials and operator token; the only secrets it can read)."
  type        = list(string)

  validation {
    condition     = length(var.secret_arns) > 0
    error_message = "secret_arns must list at least one secret."
  }
}

variable "secret_kms_key_arn" {
  description = "KMS key that encrypts those secrets; the role may decrypt with it only through Secrets Manager and only for those secrets."
  type        = string
}

variable "tags" {
  description = "Tags added to every resource of the module (merged over the provider default_tags)."
  type        = map(string)
  default     = {}
}
