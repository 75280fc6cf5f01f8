data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}

locals {
  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition
  alias      = replace(var.repository_name, "/", "-")
}

data "aws_iam_policy_document" "kms" {
  #checkov:skip=CKV_AWS_109:A KMS key policy is attached to its key only, so "*" means this key; the account root statement is the AWS default that keeps the key manageable through IAM.
  #checkov:skip=CKV_AWS_111:Same as above: resource "*" in a key policy is the key itself.
  #checkov:skip=CKV_AWS_356:Same as above: resource "*" in a key policy is the key itself.
  statement {
    sid       = "AccountAdministration"
    actions   = ["kms:*"]
    resources = ["*"]

    principals {
      type        = "AWS"
      identifiers = ["arn:${local.partition}:iam::${local.account_id}:root"]
    }
  }
}

resource "aws_kms_key" "this" {
  description             = "ECR repository ${var.repository_name}"
  enable_key_rotation     = true
  deletion_window_in_days = 30
  policy                  = data.aws_iam_policy_document.kms.json

  tags = merge(var.tags, { Name = "ecr-${local.alias}" })
}

resource "aws_kms_alias" "this" {
  name          = "alias/ecr/${local.alias}"
  target_key_id = aws_kms_key.this.key_id
}

resource "aws_ecr_repository" "this" {
  name                 = var.repository_name
  image_tag_mutability = "IMMUTABLE"
  force_delete         = var.force_delete

  image_scanning_configuration {
    scan_on_push = true
  }

  encryption_configuration {
    encryption_type = "KMS"
    kms_key         = aws_kms_key.this.arn
  }

  tags = merge(var.tags, { Name = var.repository_name })
}

# Lifecycle: an image that matches a rule's tag selection is never expired by a lower-priority
# rule (ECR's evaluation rules), so rules 1-3 select what deployments reference and keep all of
# it; only development builds (sha-<commit>) beyond the newest N and old untagged images expire.
#   1. release tags as the image workflow writes them (semver 1.2.3, 1.2.3-rc.1) and the GitOps
#      manifests pin: every tag with two dots;
#   2. release tags written as v1.2.3;
#   3. cosign signatures and attestations (sha256-<digest>.sig/.att) of any kept image;
#   4. sha-<commit> builds: keep the newest dev_image_count;
#   5. untagged (superseded pushes, index children of deleted images): after N days.
# Any other tag is kept (none is written by the workflows). tests/deploy/test_terraform_defects.py
# replays these rules on the GitOps-referenced tags.
locals {
  keep_forever = 10000
  lifecycle_rules = [
    {
      rulePriority = 1
      description  = "Keep every release image (semver tags, what GitOps pins)"
      selection = {
        tagStatus      = "tagged"
        tagPatternList = ["*.*.*"]
        countType      = "imageCountMoreThan"
        countNumber    = local.keep_forever
      }
      action = { type = "expire" }
    },
    {
      rulePriority = 2
      description  = "Keep every release image tagged v*"
      selection = {
        tagStatus      = "tagged"
        tagPatternList = ["v*"]
        countType      = "imageCountMoreThan"
        countNumber    = local.keep_forever
      }
      action = { type = "expire" }
    },
    {
      rulePriority = 3
      description  = "Keep signatures and attestations"
      selection = {
        tagStatus     = "tagged"
        tagPrefixList = ["sha256-"]
        countType     = "imageCountMoreThan"
        countNumber   = local.keep_forever
      }
      action = { type = "expire" }
    },
    {
      rulePriority = 4
      description  = "Keep the ${var.dev_image_count} newest development builds (sha-<commit>)"
      selection = {
        tagStatus     = "tagged"
        tagPrefixList = ["sha-"]
        countType     = "imageCountMoreThan"
        countNumber   = var.dev_image_count
      }
      action = { type = "expire" }
    },
    {
      rulePriority = 5
      description  = "Expire untagged images after ${var.untagged_image_expiry_days} days"
      selection = {
        tagStatus   = "untagged"
        countType   = "sinceImagePushed"
        countUnit   = "days"
        countNumber = var.untagged_image_expiry_days
      }
      action = { type = "expire" }
    },
  ]
}

resource "aws_ecr_lifecycle_policy" "this" {
  repository = aws_ecr_repository.this.name
  policy     = jsonencode({ rules = local.lifecycle_rules })
}

data "aws_iam_policy_document" "repository" {
  count = length(var.pull_principal_arns) + length(var.push_principal_arns) > 0 ? 1 : 0

  dynamic "statement" {
    for_each = length(var.pull_principal_arns) > 0 ? [1] : []

    content {
      sid = "Pull"
      actions = [
        "ecr:BatchCheckLayerAvailability",
        "ecr:BatchGetImage",
        "ecr:GetDownloadUrlForLayer",
      ]

      principals {
        type        = "AWS"
        identifiers = var.pull_principal_arns
      }
    }
  }

  dynamic "statement" {
    for_each = length(var.push_principal_arns) > 0 ? [1] : []

    content {
      sid = "Push"
      actions = [
        "ecr:BatchCheckLayerAvailability",
        "ecr:BatchGetImage",
        "ecr:CompleteLayerUpload",
        "ecr:GetDownloadUrlForLayer",
        "ecr:InitiateLayerUpload",
        "ecr:PutImage",
        "ecr:UploadLayerPart",
      ]

      principals {
        type        = "AWS"
        identifiers = var.push_principal_arns
      }
    }
  }
}

resource "aws_ecr_repository_policy" "this" {
  count = length(data.aws_iam_policy_document.repository)

  repository = aws_ecr_repository.this.name
  policy     = data.aws_iam_policy_document.repository[0].json
}
