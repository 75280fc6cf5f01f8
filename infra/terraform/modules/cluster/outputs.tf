output "name" {
  description = "Cluster name. Available only once nodes, core add-ons and admin access entries exist, so that Helm releases can depend on it."
  value       = aws_eks_cluster.this.name

  depends_on = [
    aws_eks_node_group.default,
    aws_eks_addon.coredns,
    aws_eks_access_policy_association.admin,
    aws_eks_access_policy_association.viewer,
  ]
}

output "arn" {
  description = "ARN of the EKS cluster."
  value       = aws_eks_cluster.this.arn
}

output "endpoint" {
  description = "HTTPS endpoint of the Kubernetes API."
  value       = aws_eks_cluster.this.endpoint
}

output "certificate_authority_data" {
  description = "Base64-encoded CA certificate of the Kubernetes API."
  value       = aws_eks_cluster.this.certificate_authority[0].data
}

output "kubernetes_version" {
  description = "Kubernetes version of the control plane."
  value       = aws_eks_cluster.this.version
}

output "cluster_security_group_id" {
  description = "Security group that EKS attaches to the control plane and the managed nodes; allow it to reach the database."
  value       = aws_eks_cluster.this.vpc_config[0].cluster_security_group_id
}

output "oidc_provider_arn" {
  description = "ARN of the IAM OIDC provider of the cluster (IRSA trust policies)."
  value       = aws_iam_openid_connect_provider.this.arn
}

output "oidc_issuer" {
  description = "OIDC issuer host and path without https:// (prefix of the IRSA condition keys)."
  value       = local.oidc_issuer
}

output "node_role_arn" {
  description = "IAM role of the managed nodes."
  value       = aws_iam_role.node.arn
}

output "kms_key_arn" {
  description = "KMS key that encrypts Kubernetes Secrets and the control-plane logs."
  value       = aws_kms_key.this.arn
}

output "node_autoscaling_group_names" {
  description = "Auto Scaling groups of the managed node group, tagged for cluster-autoscaler auto-discovery."
  value       = aws_eks_node_group.default.resources[0].autoscaling_groups[*].name
}
