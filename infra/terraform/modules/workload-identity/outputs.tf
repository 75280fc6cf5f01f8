output "role_arn" {
  description = "ARN of the workload role (chart value serviceAccount.annotations.\"eks.amazonaws.com/role-arn\")."
  value       = aws_iam_role.this.arn
}

output "role_name" {
  description = "Name of the workload role."
  value       = aws_iam_role.this.name
}

output "service_account_subject" {
  description = "Kubernetes subject trusted by the role (system:serviceaccount:NAMESPACE:NAME)."
  value       = local.subject
}
