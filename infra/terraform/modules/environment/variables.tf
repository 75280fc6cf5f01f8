variable "project" {
  description = "Project name, used as the prefix of every resource name and as the Project tag."
  type        = string
  default     = "shipshape"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,20}$", var.project))
    error_message = "project must be 2-21 characters of lower-case letters, digits and dashes, starting with a letter."
  }
}

variable "environment" {
  description = "Environment name; selects the sizing profile. One of dev, staging, prod."
  type        = string

  validation {
    condition     = contains(["dev", "staging", "prod"], var.environment)
    error_message = "environment must be one of dev, staging, prod."
  }
}

variable "owner" {
  description = "Team or person accountable for the resources (Owner tag)."
  type        = string
  default     = "platform-team"
}

variable "repository" {
  description = "Source repository of this code (Repository tag), so that anyone finding a resource can find its code."
  type        = string
  default     = "shipshape/infra/terraform"
}

variable "extra_tags" {
  description = "Additional tags merged into the common tags (for example CostCenter)."
  type        = map(string)
  default     = {}
}
