variable "name" {
  description = "Identifier of the RDS instance and prefix of its companion resources."
  type        = string
}

variable "vpc_id" {
  description = "VPC of the database."
  type        = string
}

variable "subnet_ids" {
  description = "Isolated database subnets, in at least two availability zones."
  type        = list(string)

  validation {
    condition     = length(var.subnet_ids) >= 2
    error_message = "RDS needs subnets in at least two availability zones."
  }
}

variable "allowed_security_groups" {
  description = "Security groups allowed to connect on the PostgreSQL port, keyed by a name known at plan time (for example { eks-cluster = <cluster security group id> }): the ids may be unknown until apply, the keys may not. Nothing else can reach the database."
  type        = map(string)
}

variable "engine_version" {
  description = "PostgreSQL major version (RDS applies the latest minor release, and minor upgrades happen in the maintenance window)."
  type        = string
  default     = "17"

  validation {
    condition     = can(regex("^[0-9]{2}$", var.engine_version))
    error_message = "engine_version is a major version such as 17; minor versions are managed by RDS."
  }
}

variable "instance_class" {
  description = "RDS instance class."
  type        = string
}

variable "allocated_storage" {
  description = "Initial gp3 storage, in GiB."
  type        = number
  default     = 20
}

variable "max_allocated_storage" {
  description = "Upper bound of storage autoscaling, in GiB."
  type        = number
  default     = 100
}

variable "database_name" {
  description = "Name of the application database."
  type        = string
  default     = "shipshape"
}

variable "master_username" {
  description = "Master user name, for administration only (the app has its own role, modules/app-secrets); its password is generated, stored and rotated by RDS in Secrets Manager."
  type        = string
  default     = "shipshape_admin"
}

variable "multi_az" {
  description = "Synchronous standby in a second AZ with automatic failover (prod)."
  type        = bool
}

variable "deletion_protection" {
  description = "Refuse to delete the instance (prod, staging)."
  type        = bool
}

variable "skip_final_snapshot" {
  description = "Destroy without a final snapshot (disposable dev databases only)."
  type        = bool
  default     = false
}

variable "backup_retention_days" {
  description = "Days of automated backups and point-in-time recovery."
  type        = number
  default     = 7

  validation {
    condition     = var.backup_retention_days >= 1 && var.backup_retention_days <= 35
    error_message = "backup_retention_days must be between 1 and 35."
  }
}

variable "performance_insights_enabled" {
  description = "Enable Performance Insights (7 days are free)."
  type        = bool
  default     = true
}

variable "log_retention_days" {
  description = "Retention of the exported PostgreSQL logs in CloudWatch Logs, in days."
  type        = number
  default     = 365
}

variable "apply_immediately" {
  description = "Apply modifications at once instead of in the maintenance window."
  type        = bool
  default     = false
}

variable "tags" {
  description = "Tags added to every resource of the module (merged over the provider default_tags)."
  type        = map(string)
  default     = {}
}
