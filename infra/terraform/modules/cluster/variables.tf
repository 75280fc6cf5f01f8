variable "name" {
  description = "Name of the EKS cluster (also the prefix of its IAM roles, KMS key and log group)."
  type        = string
}

variable "kubernetes_version" {
  description = "Kubernetes minor version of the control plane and the managed node group (upgrade one minor at a time)."
  type        = string
  default     = "1.36"

  validation {
    condition     = can(regex("^1\\.[0-9]{2}$", var.kubernetes_version))
    error_message = "kubernetes_version must look like 1.36."
  }
}

variable "subnet_ids" {
  description = "Private subnets (one per AZ) for the control plane ENIs and the nodes."
  type        = list(string)

  validation {
    condition     = length(var.subnet_ids) >= 2
    error_message = "EKS needs subnets in at least two availability zones."
  }
}

variable "endpoint_public_access" {
  description = "Expose the Kubernetes API on a public endpoint restricted to public_access_cidrs (the private endpoint is always on)."
  type        = bool
  default     = false
}

variable "public_access_cidrs" {
  description = "CIDRs allowed to reach the public API endpoint (CI runners, VPN egress). Ignored when endpoint_public_access is false."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for cidr in var.public_access_cidrs : can(cidrhost(cidr, 0))])
    error_message = "public_access_cidrs must be CIDR blocks such as 203.0.113.0/24."
  }

  validation {
    condition     = !anytrue([for cidr in var.public_access_cidrs : endswith(cidr, "/0")])
    error_message = "Do not open the Kubernetes API to 0.0.0.0/0 (or ::/0); list the CIDRs that need it."
  }
}

variable "admin_principal_arns" {
  description = "IAM principals (roles of the platform team and of the Terraform runner) granted cluster-admin through EKS access entries."
  type        = list(string)
  default     = []
}

variable "viewer_principal_arns" {
  description = "IAM principals (the CI plan role) granted read-only access, Secrets included, in viewer_namespaces only (AmazonEKSAdminViewPolicy, namespace scope: refreshing a helm_release reads its release Secrets) through EKS access entries; disjoint from admin_principal_arns."
  type        = list(string)
  default     = []
}

variable "viewer_namespaces" {
  description = "Namespaces the viewer principals may read, Secrets included: those of the Helm releases the add-ons root refreshes; never the app's namespace."
  type        = list(string)
  default     = []
}

variable "deletion_protection" {
  description = "EKS deletion protection: the cluster cannot be deleted until this is turned off (staging, prod)."
  type        = bool
  default     = true
}

variable "node_instance_types" {
  description = "Instance types of the managed node group (several types improve Spot availability)."
  type        = list(string)
}

variable "node_capacity_type" {
  description = "ON_DEMAND or SPOT for the managed node group."
  type        = string
  default     = "ON_DEMAND"

  validation {
    condition     = contains(["ON_DEMAND", "SPOT"], var.node_capacity_type)
    error_message = "node_capacity_type must be ON_DEMAND or SPOT."
  }
}

variable "node_min_size" {
  description = "Minimum number of nodes."
  type        = number
}

variable "node_desired_size" {
  description = "Initial number of nodes (later changes are ignored: the cluster autoscaler of the addons module owns the size)."
  type        = number
}

variable "node_max_size" {
  description = "Maximum number of nodes."
  type        = number
}

variable "node_disk_size_gib" {
  description = "Size of each node's encrypted gp3 root volume, in GiB."
  type        = number
  default     = 50
}

variable "log_retention_days" {
  description = "Retention of the control-plane logs in CloudWatch Logs, in days."
  type        = number
  default     = 365
}

variable "enable_network_policy" {
  description = "Turn on the VPC CNI network policy agent (enableNetworkPolicy), so that Kubernetes NetworkPolicies are enforced."
  type        = bool
  default     = true
}

variable "addon_versions" {
  description = "Pinned versions of the EKS managed add-ons (vpc-cni, kube-proxy, coredns, eks-pod-identity-agent); a missing key means the most recent version for the cluster's Kubernetes version (data.aws_eks_addon_version), so add-ons follow control-plane upgrades."
  type        = map(string)
  default     = {}
}

variable "tags" {
  description = "Tags added to every resource of the module (merged over the provider default_tags)."
  type        = map(string)
  default     = {}
}
