output "secret_names" {
  description = "Secret names by role (database, admin-token): the chart's externalSecret.databasePassword.key and externalSecret.adminToken.key."
  value       = { for k, s in aws_secretsmanager_secret.this : k => s.name }
}

output "secret_arns" {
  description = "Secret ARNs by role (database, admin-token): what the workload role may read."
  value       = { for k, s in aws_secretsmanager_secret.this : k => s.arn }
}

output "kms_key_arn" {
  description = "KMS key encrypting the secrets (the workload role may decrypt with it through Secrets Manager)."
  value       = aws_kms_key.this.arn
}

output "db_username" {
  description = "The app's PostgreSQL role (chart value externalDatabase.user)."
  value       = var.db_username
}
