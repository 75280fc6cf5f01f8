output "irsa_role_arns" {
  description = "IRSA role ARN of each add-on that calls AWS APIs, keyed by add-on name."
  value       = { for k, v in aws_iam_role.addon : k => v.arn }
}

output "releases" {
  description = "Installed Helm releases: name => {namespace, chart version}."
  value = {
    for r in concat(
      helm_release.aws_load_balancer_controller,
      helm_release.external_dns,
      helm_release.metrics_server,
      helm_release.cert_manager,
      helm_release.external_secrets,
      helm_release.argocd,
      helm_release.cluster_autoscaler,
      helm_release.argocd_bootstrap,
      helm_release.cluster_issuers,
    ) : r.name => { namespace = r.namespace, version = r.version }
  }
}

output "argocd_namespace" {
  description = "Namespace of Argo CD, where the GitOps Application manifests of deploy/gitops are applied (null when Argo CD is disabled)."
  value       = var.enable_argocd ? "argocd" : null
}

output "cluster_issuers" {
  description = "cert-manager ClusterIssuer names (chart value ingress.certManager.clusterIssuer); empty without cert-manager."
  value       = var.enable_cert_manager ? ["letsencrypt", "letsencrypt-staging"] : []
}
