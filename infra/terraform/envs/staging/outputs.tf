output "region" {
  description = "AWS region of the environment."
  value       = var.region
}

output "cluster_name" {
  description = "Name of the EKS cluster."
  value       = module.cluster.name
}

output "kubeconfig_command" {
  description = "Command that adds the cluster to the caller's kubeconfig."
  value       = "aws eks update-kubeconfig --region ${var.region} --name ${module.cluster.name}"
}

output "app_role_arn" {
  description = "IAM role of the app's service account (IRSA annotation, Pod Identity association)."
  value       = module.app_identity.role_arn
}

output "db_endpoint" {
  description = "Host name of the PostgreSQL instance."
  value       = module.database.address
}

output "db_port" {
  description = "Port of the PostgreSQL instance."
  value       = module.database.port
}

output "db_name" {
  description = "Name of the application database."
  value       = module.database.database_name
}

output "app_role_name" {
  description = "Name of the app's IAM role (fixed: chart values name its ARN)."
  value       = module.app_identity.role_name
}

output "app_namespace" {
  description = "Kubernetes namespace the app role, the SecretStore and GitOps are bound to."
  value       = local.app_namespace
}

output "app_service_account" {
  description = "Kubernetes service account the app role trusts (chart value serviceAccount.name)."
  value       = local.app_service_account
}

output "app_secret_names" {
  description = "Secrets Manager secrets of the app by role (database, admin-token): the chart's externalSecret.*.key; the app role may read exactly these."
  value       = module.app_secrets.secret_names
}

output "db_secret_arn" {
  description = "ARN of the secret with the app's own database credentials (not the master user's)."
  value       = module.app_secrets.secret_arns["database"]
}

output "db_master_secret_arn" {
  description = "ARN of the RDS-managed master user secret (rotated by RDS; administrators only, the app role cannot read it)."
  value       = module.database.master_user_secret_arn
}

output "db_identifier" {
  description = "RDS instance identifier (first label of db_endpoint)."
  value       = module.database.identifier
}

output "ecr_repository_url" {
  description = "ECR repository of the app image."
  value       = module.registry.repository_url
}

output "nat_public_ips" {
  description = "Egress IPs of the cluster."
  value       = module.network.nat_public_ips
}

# The Helm chart values this environment needs from the infrastructure, in the
# shape of charts/shipshape/values.yaml. JSON is YAML, so:
#   terraform output -json helm_values > shipshape-staging.infra.json
#   helm upgrade --install shipshape charts/shipshape -n shipshape \
#     -f charts/shipshape/values-staging.yaml -f shipshape-staging.infra.json
output "helm_values" {
  description = "Chart values derived from the infrastructure (image repository, IRSA role, database host and secret); layer them over values-<env>.yaml."
  value = {
    image = {
      repository = module.registry.repository_url
    }
    config = {
      # The ALB (IP targets) connects from addresses inside the VPC: trust its X-Forwarded-For.
      trustedProxies = module.network.vpc_cidr
    }
    networkPolicy = {
      ingressFrom = [{ ipBlock = { cidr = module.network.vpc_cidr } }]
    }
    serviceAccount = {
      create     = true
      name       = local.app_service_account
      awsRoleArn = module.app_identity.role_arn
    }
    postgresql = {
      enabled = false
    }
    externalDatabase = {
      scheme   = "postgresql"
      host     = module.database.address
      port     = module.database.port
      database = module.database.database_name
      user     = module.app_secrets.db_username
      # verify-full: TLS and the server's certificate and host name checked against the RDS CA
      # bundle the image carries (infra/certs, copied there by the Dockerfile).
      query = "sslmode=verify-full&sslrootcert=/etc/ssl/certs/rds-ca-bundle.pem"
      cidrs = module.network.database_subnet_cidrs
    }
    externalSecret = {
      enabled = true
      secretStoreRef = {
        name = "aws-secrets-manager"
        kind = "SecretStore"
      }
      databasePassword = {
        key      = module.app_secrets.secret_names["database"]
        property = "password"
      }
      adminToken = {
        key      = module.app_secrets.secret_names["admin-token"]
        property = "token"
      }
    }
  }
}

# The namespace and the SecretStore the chart's ExternalSecret refers to. The
# store authenticates with the app's own service account token (IRSA), so
# reading the secret needs no permission beyond the app role's. GitOps delivers
# the same objects (deploy/gitops/*/<env>/secretstore.yaml, a test keeps them
# equal); for a plain `helm install` apply them first:
#   terraform output -raw secret_store_manifest | kubectl apply -f -
output "secret_store_manifest" {
  description = "Kubernetes manifests of the app namespace (Pod Security restricted) and of the External Secrets SecretStore in it that reads Secrets Manager as the app role."
  value = join("---\n", [yamlencode({
    apiVersion = "v1"
    kind       = "Namespace"
    metadata = {
      name = local.app_namespace
      labels = {
        "pod-security.kubernetes.io/enforce" = "restricted"
        "pod-security.kubernetes.io/audit"   = "restricted"
        "pod-security.kubernetes.io/warn"    = "restricted"
      }
    }
    }), yamlencode({
    apiVersion = "external-secrets.io/v1"
    kind       = "SecretStore"
    metadata = {
      name      = "aws-secrets-manager"
      namespace = local.app_namespace
    }
    spec = {
      provider = {
        aws = {
          service = "SecretsManager"
          region  = var.region
          auth = {
            jwt = {
              serviceAccountRef = { name = local.app_service_account }
            }
          }
        }
      }
    }
  })])
}
