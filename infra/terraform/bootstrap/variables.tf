variable "region" {
  description = "AWS region of the state bucket (use the region of the environments stored in it)."
  type        = string

  validation {
    condition     = can(regex("^[a-z]{2}(-gov)?-[a-z]+-[0-9]$", var.region))
    error_message = "region must be an AWS region name such as eu-west-1."
  }
}

variable "allowed_account_ids" {
  description = "AWS account IDs this root may be applied to."
  type        = list(string)

  validation {
    condition     = length(var.allowed_account_ids) > 0 && alltrue([for id in var.allowed_account_ids : can(regex("^[0-9]{12}$", id))])
    error_message = "allowed_account_ids must list 12-digit AWS account IDs."
  }
}

variable "owner" {
  description = "Owner tag of the state resources."
  type        = string
  default     = "platform-team"
}

variable "noncurrent_version_retention_days" {
  description = "Days to keep superseded state versions (the undo history of every state file)."
  type        = number
  default     = 90
}

variable "state_admin_principal_arns" {
  description = "IAM principals besides the account root that may administer the state KMS key (break-glass)."
  type        = list(string)
  default     = []
}
