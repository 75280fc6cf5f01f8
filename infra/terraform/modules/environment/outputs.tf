output "name" {
  description = "Name prefix for every resource of this environment, for example shipshape-prod."
  value       = local.name
}

output "environment" {
  description = "The environment name (dev, staging or prod)."
  value       = var.environment
}

output "is_production" {
  description = "True for the prod environment."
  value       = var.environment == "prod"
}

output "tags" {
  description = "Common tags; the roots set them as the AWS provider default_tags."
  value       = local.tags
}

output "settings" {
  description = "Sizing and resilience profile of the environment (network, node groups, database, retention)."
  value       = local.settings
}
