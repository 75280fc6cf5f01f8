output "cluster_name" {
  description = "Name of the EKS cluster the add-ons are installed in (created by the cluster root)."
  value       = data.aws_eks_cluster.this.name
}

output "cluster_issuers" {
  description = "cert-manager ClusterIssuers of the cluster (chart value ingress.certManager.clusterIssuer)."
  value       = module.addons.cluster_issuers
}

output "dns_domains" {
  description = "Domains ExternalDNS manages: the chart's ingress hosts must be inside one of them."
  value       = var.domain_filters
}

output "addon_releases" {
  description = "Add-on Helm releases and their chart versions."
  value       = module.addons.releases
}

output "addon_role_arns" {
  description = "IRSA role of each add-on that calls AWS APIs."
  value       = module.addons.irsa_role_arns
}

output "argocd_namespace" {
  description = "Namespace of Argo CD (null when it is not installed)."
  value       = module.addons.argocd_namespace
}
