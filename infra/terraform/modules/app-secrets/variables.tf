variable "name_prefix" {
  description = "Prefix of the secret names, for example shipshape/prod (secrets shipshape/prod/database and shipshape/prod/admin-token)."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9/_+=.@-]+$", var.name_prefix)) && !startswith(var.name_prefix, "rds!")
    error_message = "name_prefix must be a valid Secrets Manager name prefix (and not rds!, which RDS reserves)."
  }
}

variable "db_username" {
  description = "Name of the app's own PostgreSQL role (not the RDS master user); written into the database secret."
  type        = string
  default     = "shipshape"
}

variable "secret_version" {
  description = "Version of the generated values; change it (1 -> 2) to generate new ones (see infra/README.md for the database side)."
  type        = number
  default     = 1
}

variable "recovery_window_days" {
  description = "Days a deleted secret can still be restored (0 deletes at once; 7-30 otherwise)."
  type        = number
  default     = 30

  validation {
    condition     = var.recovery_window_days == 0 || (var.recovery_window_days >= 7 && var.recovery_window_days <= 30)
    error_message = "recovery_window_days must be 0 or between 7 and 30."
  }
}

variable "tags" {
  description = "Tags added to every resource of the module (merged over the provider default_tags)."
  type        = map(string)
  default     = {}
}
