variable "name" {
  description = "Name prefix of the IAM role (for example shipshape-prod-app)."
  type        = string
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

variable "db_secret_arn" {
  description = "ARN of the database master secret the workload may read (the only secret it can read)."
  type        = string
}

variable "db_secret_kms_key_arn" {
  description = "KMS key that encrypts db_secret_arn; the role may decrypt with it only through Secrets Manager and only for that secret."
  type        = string
}

variable "tags" {
  description = "Tags added to every resource of the module (merged over the provider default_tags)."
  type        = map(string)
  default     = {}
}
