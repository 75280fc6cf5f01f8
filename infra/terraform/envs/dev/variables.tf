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
  description = "IAM roles of people granted cluster-admin through EKS access entries (the CI apply role is added from ci_apply_role_arn)."
  type        = list(string)
  default     = []
}

variable "cluster_public_access_cidrs" {
  description = "CIDRs allowed to reach the public Kubernetes API endpoint: the egress of the runners that apply the add-ons root (and of admins). Required on purpose, no default: [] keeps the API private (runners inside the VPC); never 0.0.0.0/0. Options and trade-offs: infra/README.md, CI and the cluster API."
  type        = list(string)

  validation {
    condition     = alltrue([for cidr in var.cluster_public_access_cidrs : can(cidrhost(cidr, 0))])
    error_message = "cluster_public_access_cidrs must be CIDR blocks such as 203.0.113.0/24."
  }

  validation {
    condition     = !anytrue([for cidr in var.cluster_public_access_cidrs : endswith(cidr, "/0")])
    error_message = "Do not open the Kubernetes API to 0.0.0.0/0 (or ::/0): list the runners' egress CIDRs, or use [] and runners inside the VPC."
  }
}

variable "ci_plan_role_arn" {
  description = "IAM role of the CI plan jobs (read-only; GitHub environment plan-<env>). Its EKS access entry reads the add-ons' namespaces, Secrets included (Helm release refresh), and nothing else."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:role/.+$", var.ci_plan_role_arn))
    error_message = "ci_plan_role_arn must be an IAM role ARN (arn:aws:iam::<account>:role/<name>)."
  }
}

variable "ci_apply_role_arn" {
  description = "IAM role of the CI apply jobs (GitHub environment <env>). Its EKS access entry is cluster admin: the add-ons install CRDs, cluster roles and webhooks."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:role/.+$", var.ci_apply_role_arn))
    error_message = "ci_apply_role_arn must be an IAM role ARN (arn:aws:iam::<account>:role/<name>)."
  }
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
