variable "repository_name" {
  description = "Name of the ECR repository (for example shipshape)."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9]+(?:[._-][a-z0-9]+)*(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)*$", var.repository_name))
    error_message = "repository_name must be a valid ECR repository name."
  }
}

variable "force_delete" {
  description = "Allow terraform destroy to delete the repository while it still holds images (dev only)."
  type        = bool
  default     = false
}

variable "untagged_image_expiry_days" {
  description = "Untagged images (left-overs of multi-arch pushes, superseded signatures) are deleted after this many days."
  type        = number
  default     = 14
}

variable "dev_image_count" {
  description = "Development builds (tags sha-<commit>) kept; older ones are deleted. Release images (semver and v* tags, what GitOps pins) and their signatures are never deleted."
  type        = number
  default     = 50

  validation {
    condition     = var.dev_image_count >= 1 && var.dev_image_count < 10000
    error_message = "dev_image_count must be between 1 and 9999."
  }
}

variable "pull_principal_arns" {
  description = "Extra IAM principals (for example other accounts' node roles) allowed to pull; the owning account's principals need no repository policy."
  type        = list(string)
  default     = []
}

variable "push_principal_arns" {
  description = "IAM principals allowed to push (the CI role). Leave empty when pushes come from principals with identity-based ECR permissions."
  type        = list(string)
  default     = []
}

variable "tags" {
  description = "Tags added to every resource of the module (merged over the provider default_tags)."
  type        = map(string)
  default     = {}
}
