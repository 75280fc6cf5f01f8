data "aws_region" "current" {}

locals {
  subject = "system:serviceaccount:${var.namespace}:${var.service_account}"
  region  = data.aws_region.current.region
}

data "aws_iam_policy_document" "assume" {
  # IRSA: only this namespace/service account of this cluster, only for STS.
  statement {
    sid     = "IRSA"
    actions = ["sts:AssumeRoleWithWebIdentity"]

    principals {
      type        = "Federated"
      identifiers = [var.oidc_provider_arn]
    }

    condition {
      test     = "StringEquals"
      variable = "${var.oidc_issuer}:sub"
      values   = [local.subject]
    }

    condition {
      test     = "StringEquals"
      variable = "${var.oidc_issuer}:aud"
      values   = ["sts.amazonaws.com"]
    }
  }

  # EKS Pod Identity: the agent tags the session with the cluster, namespace
  # and service account; accept only ours.
  statement {
    sid     = "PodIdentity"
    actions = ["sts:AssumeRole", "sts:TagSession"]

    principals {
      type        = "Service"
      identifiers = ["pods.eks.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:RequestTag/eks-cluster-arn"
      values   = [var.cluster_arn]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:RequestTag/kubernetes-namespace"
      values   = [var.namespace]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:RequestTag/kubernetes-service-account"
      values   = [var.service_account]
    }
  }
}

# A fixed name (not name_prefix): the chart values and GitOps manifests in Git name this role's
# ARN (serviceAccount.awsRoleArn), so nothing random may be in it.
resource "aws_iam_role" "this" {
  name                 = var.name
  description          = "Workload role of ${var.namespace}/${var.service_account} on ${var.cluster_name}: reads its own secrets, nothing else."
  assume_role_policy   = data.aws_iam_policy_document.assume.json
  max_session_duration = 3600

  tags = merge(var.tags, { Name = var.name })
}

data "aws_iam_policy_document" "permissions" {
  statement {
    sid       = "ReadOwnSecrets"
    actions   = ["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"]
    resources = var.secret_arns
  }

  statement {
    sid       = "DecryptOwnSecrets"
    actions   = ["kms:Decrypt"]
    resources = [var.secret_kms_key_arn]

    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["secretsmanager.${local.region}.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "kms:EncryptionContext:SecretARN"
      values   = var.secret_arns
    }
  }
}

resource "aws_iam_role_policy" "this" {
  name   = "read-own-secrets"
  role   = aws_iam_role.this.id
  policy = data.aws_iam_policy_document.permissions.json
}

resource "aws_eks_pod_identity_association" "this" {
  count = var.pod_identity_association ? 1 : 0

  cluster_name    = var.cluster_name
  namespace       = var.namespace
  service_account = var.service_account
  role_arn        = aws_iam_role.this.arn

  tags = merge(var.tags, { Name = var.name })
}
