variable "cluster_name" {
  description = "Name of the EKS cluster (the helm provider of the root must point at the same cluster)."
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

variable "vpc_id" {
  description = "VPC of the cluster (given to the AWS Load Balancer Controller so that it needs no instance metadata)."
  type        = string
}

variable "route53_zone_ids" {
  description = "Route 53 hosted zones that ExternalDNS may write records in and cert-manager may answer DNS-01 challenges in. Required when either is enabled."
  type        = list(string)
  default     = []
}

variable "domain_filters" {
  description = "Domains ExternalDNS manages (for example [\"dev.example.com\"]); records outside them are never touched."
  type        = list(string)
  default     = []
}

variable "external_dns_policy" {
  description = "ExternalDNS policy: upsert-only never deletes records, sync also deletes the records it owns."
  type        = string
  default     = "upsert-only"

  validation {
    condition     = contains(["upsert-only", "sync"], var.external_dns_policy)
    error_message = "external_dns_policy must be upsert-only or sync."
  }
}

variable "enable_aws_load_balancer_controller" {
  description = "Install the AWS Load Balancer Controller (Ingress -> ALB, Service -> NLB)."
  type        = bool
  default     = true
}

variable "enable_external_dns" {
  description = "Install ExternalDNS (Ingress/Service host names -> Route 53 records)."
  type        = bool
  default     = true
}

variable "enable_metrics_server" {
  description = "Install metrics-server (resource metrics for the HorizontalPodAutoscaler and kubectl top)."
  type        = bool
  default     = true
}

variable "enable_cert_manager" {
  description = "Install cert-manager (certificates from ACME with Route 53 DNS-01)."
  type        = bool
  default     = true
}

variable "enable_external_secrets" {
  description = "Install the External Secrets Operator (the chart's ExternalSecret copies the database password from Secrets Manager; the SecretStore authenticates as the app's own IRSA role, so the operator itself gets no AWS permissions)."
  type        = bool
  default     = true
}

variable "enable_argocd" {
  description = "Install Argo CD (GitOps delivery of the application, see deploy/gitops)."
  type        = bool
  default     = true
}

variable "enable_cluster_autoscaler" {
  description = "Install the Cluster Autoscaler (scales the managed node group between its min and max size when pods cannot be scheduled or nodes are idle)."
  type        = bool
  default     = true
}

variable "kubernetes_version" {
  description = "Kubernetes minor version of the cluster (X.Y); selects the Cluster Autoscaler image vX.Y.0."
  type        = string

  validation {
    condition     = can(regex("^1\\.[0-9]+$", var.kubernetes_version))
    error_message = "kubernetes_version must be a minor version such as 1.33."
  }
}

variable "cluster_autoscaler_image_tag" {
  description = "Cluster Autoscaler image tag; null uses v<kubernetes_version>.0 (the autoscaler's minor version must match the cluster's)."
  type        = string
  default     = null
}

variable "acme_email" {
  description = "Contact e-mail of the ACME account of the ClusterIssuers (required with cert-manager)."
  type        = string
  default     = ""
}

variable "app_namespace" {
  description = "Namespace of the app, the only one besides Argo CD's that the app of apps may deploy into."
  type        = string
  default     = "shipshape"
}

variable "argocd_bootstrap_repo_url" {
  description = "Git repository the Argo CD app of apps reads (deploy/gitops)."
  type        = string
  default     = "https://github.com/shipshape/shipshape.git"
}

variable "argocd_bootstrap_revision" {
  description = "Branch, tag or commit of that repository."
  type        = string
  default     = "main"
}

variable "argocd_bootstrap_path" {
  description = "Directory of this cluster's environment in that repository (for example deploy/gitops/argocd/prod); empty installs no app of apps."
  type        = string
  default     = ""
}

variable "chart_versions" {
  description = "Pinned Helm chart versions of the add-ons; bump them deliberately (and re-check the IAM policies against upstream). cert-manager and External Secrets follow their latest releases on the Go module proxy (chart version = app version); see the module README for the others."
  type = object({
    aws_load_balancer_controller = optional(string, "1.13.0")
    external_dns                 = optional(string, "1.16.1")
    metrics_server               = optional(string, "3.12.2")
    cert_manager                 = optional(string, "v1.21.2")
    external_secrets             = optional(string, "1.3.2")
    argocd                       = optional(string, "8.0.0")
    argocd_apps                  = optional(string, "2.0.2")
    cluster_autoscaler           = optional(string, "9.46.6")
  })
  default = {}
}

variable "controller_replicas" {
  description = "Replicas of the add-on controllers that support leader election (2 in staging and prod for availability)."
  type        = number
  default     = 2
}

variable "argocd_replicas" {
  description = "Replicas of the Argo CD API server, repo server and ApplicationSet controller."
  type        = number
  default     = 2
}

variable "load_balancer_tags" {
  description = "Tags the AWS Load Balancer Controller puts on the load balancers, target groups and security groups it creates (outside Terraform, so the provider default_tags do not reach them)."
  type        = map(string)
  default     = {}
}

variable "tags" {
  description = "Tags added to every AWS resource of the module (merged over the provider default_tags)."
  type        = map(string)
  default     = {}
}
