variable "name" {
  description = "Name prefix of every resource (for example shipshape-prod)."
  type        = string
}

variable "vpc_cidr" {
  description = "IPv4 CIDR of the VPC; a /16 is split into /20 private subnets (pods get VPC IPs) and /24 public and database subnets."
  type        = string

  validation {
    condition     = can(cidrhost(var.vpc_cidr, 0)) && tonumber(split("/", var.vpc_cidr)[1]) <= 16
    error_message = "vpc_cidr must be a valid IPv4 CIDR of size /16 or larger."
  }
}

variable "az_count" {
  description = "Number of availability zones to spread the subnets over."
  type        = number
  default     = 3

  validation {
    condition     = var.az_count >= 2 && var.az_count <= 4
    error_message = "az_count must be between 2 and 4 (RDS and EKS need at least two AZs)."
  }
}

variable "single_nat_gateway" {
  description = "One NAT gateway shared by all AZs (cheap, dev) instead of one per AZ (an AZ outage does not cut the others' egress, prod)."
  type        = bool
}

variable "cluster_name" {
  description = "EKS cluster name, written into the subnet discovery tags used by the AWS Load Balancer Controller."
  type        = string
}

variable "flow_log_retention_days" {
  description = "Retention of the VPC flow logs in CloudWatch Logs, in days."
  type        = number
  default     = 365

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.flow_log_retention_days)
    error_message = "flow_log_retention_days must be a retention period that CloudWatch Logs accepts."
  }
}

variable "tags" {
  description = "Tags added to every resource of the module (merged over the provider default_tags)."
  type        = map(string)
  default     = {}
}
