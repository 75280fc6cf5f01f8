data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
data "aws_region" "current" {}

locals {
  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition
  region     = data.aws_region.current.region
  log_group  = "/aws/eks/${var.name}/cluster"

  oidc_issuer = trimprefix(aws_eks_cluster.this.identity[0].oidc[0].issuer, "https://")
}

# ---------------------------------------------------------------------------
# KMS key: envelope encryption of Kubernetes Secrets and of the control-plane logs.
# ---------------------------------------------------------------------------

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

  statement {
    sid = "CloudWatchLogsUse"
    actions = [
      "kms:Encrypt*",
      "kms:Decrypt*",
      "kms:ReEncrypt*",
      "kms:GenerateDataKey*",
      "kms:Describe*",
    ]
    resources = ["*"]

    principals {
      type        = "Service"
      identifiers = ["logs.${local.region}.amazonaws.com"]
    }

    condition {
      test     = "ArnLike"
      variable = "kms:EncryptionContext:aws:logs:arn"
      values   = ["arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:${local.log_group}"]
    }
  }
}

resource "aws_kms_key" "this" {
  description             = "${var.name} EKS secrets and control-plane logs"
  enable_key_rotation     = true
  deletion_window_in_days = 30
  policy                  = data.aws_iam_policy_document.kms.json

  tags = merge(var.tags, { Name = "${var.name}-eks" })
}

resource "aws_kms_alias" "this" {
  name          = "alias/${var.name}/eks"
  target_key_id = aws_kms_key.this.key_id
}

# Created before the cluster so that EKS does not create it without retention or encryption.
resource "aws_cloudwatch_log_group" "this" {
  name              = local.log_group
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.this.arn

  tags = merge(var.tags, { Name = "${var.name}-control-plane" })
}

# ---------------------------------------------------------------------------
# Control plane
# ---------------------------------------------------------------------------

data "aws_iam_policy_document" "cluster_assume" {
  statement {
    actions = ["sts:AssumeRole", "sts:TagSession"]

    principals {
      type        = "Service"
      identifiers = ["eks.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "cluster" {
  name_prefix        = "${var.name}-cluster-"
  description        = "EKS control plane of ${var.name}."
  assume_role_policy = data.aws_iam_policy_document.cluster_assume.json

  tags = merge(var.tags, { Name = "${var.name}-cluster" })
}

resource "aws_iam_role_policy_attachment" "cluster" {
  role       = aws_iam_role.cluster.name
  policy_arn = "arn:${local.partition}:iam::aws:policy/AmazonEKSClusterPolicy"
}

# Envelope encryption of Secrets: the control plane uses the key through its own role (as in the
# terraform-aws-modules/eks anchor: Encrypt, Decrypt, ListGrants, DescribeKey on this key only).
data "aws_iam_policy_document" "cluster_encryption" {
  statement {
    sid       = "SecretsEnvelopeEncryption"
    actions   = ["kms:Encrypt", "kms:Decrypt", "kms:ListGrants", "kms:DescribeKey"]
    resources = [aws_kms_key.this.arn]
  }
}

resource "aws_iam_role_policy" "cluster_encryption" {
  name   = "secrets-encryption"
  role   = aws_iam_role.cluster.id
  policy = data.aws_iam_policy_document.cluster_encryption.json
}

resource "aws_eks_cluster" "this" {
  #checkov:skip=CKV_AWS_339:checkov 3.3.30's list of supported EKS versions predates 1.36; the default version is checked against the EKS standard-support calendar by tests/deploy/test_terraform_defects.py instead.
  #checkov:skip=CKV_AWS_39:The public endpoint is a per-environment choice (variable endpoint_public_access) and, when on, is limited to public_access_cidrs so that CI can run Terraform/Helm; the private endpoint is always enabled.
  name     = var.name
  version  = var.kubernetes_version
  role_arn = aws_iam_role.cluster.arn

  # Refuse DeleteCluster until this is turned off in a reviewed change (on in staging and prod).
  deletion_protection = var.deletion_protection

  enabled_cluster_log_types = ["api", "audit", "authenticator", "controllerManager", "scheduler"]

  access_config {
    authentication_mode                         = "API"
    bootstrap_cluster_creator_admin_permissions = false
  }

  encryption_config {
    resources = ["secrets"]

    provider {
      key_arn = aws_kms_key.this.arn
    }
  }

  vpc_config {
    subnet_ids              = var.subnet_ids
    endpoint_private_access = true
    endpoint_public_access  = var.endpoint_public_access
    public_access_cidrs     = var.endpoint_public_access ? var.public_access_cidrs : null
  }

  # STANDARD: no paid extended support. At the end of standard support EKS upgrades the control
  # plane itself and state and config disagree from then on, so kubernetes_version must be bumped
  # before that date (tests/deploy/test_terraform_defects.py fails once the default version is
  # out of standard support).
  upgrade_policy {
    support_type = "STANDARD"
  }

  tags = merge(var.tags, { Name = var.name })

  depends_on = [
    aws_iam_role_policy_attachment.cluster,
    aws_iam_role_policy.cluster_encryption,
    aws_cloudwatch_log_group.this,
  ]

  lifecycle {
    precondition {
      condition     = !var.endpoint_public_access || length(var.public_access_cidrs) > 0
      error_message = "endpoint_public_access needs at least one CIDR in public_access_cidrs."
    }

    # One access entry per principal: EKS refuses a second entry for the same principal.
    precondition {
      condition     = length(setintersection(var.admin_principal_arns, var.viewer_principal_arns)) == 0
      error_message = "A principal is either an admin or a viewer (admin_principal_arns and viewer_principal_arns overlap)."
    }
  }
}

# IRSA: the cluster's OIDC issuer as an IAM identity provider. AWS validates EKS
# issuers through its own trust store, so no thumbprint is pinned here.
resource "aws_iam_openid_connect_provider" "this" {
  url            = aws_eks_cluster.this.identity[0].oidc[0].issuer
  client_id_list = ["sts.amazonaws.com"]

  tags = merge(var.tags, { Name = "${var.name}-irsa" })
}

# ---------------------------------------------------------------------------
# Access entries (authentication_mode = API; no aws-auth ConfigMap)
# ---------------------------------------------------------------------------

# Administrators: the platform team and the CI apply role. The apply role installs the add-ons,
# whose charts create cluster-scoped objects (CRDs, ClusterRoles and their bindings, admission
# webhooks, metrics-server's APIService) that a namespace-scoped AmazonEKSAdminPolicy cannot, so
# it is cluster admin; only the protected GitHub environments can assume it (OIDC subject).
resource "aws_eks_access_entry" "admin" {
  for_each = toset(var.admin_principal_arns)

  cluster_name  = aws_eks_cluster.this.name
  principal_arn = each.value
  type          = "STANDARD"

  tags = merge(var.tags, { Name = "${var.name}-admin" })
}

resource "aws_eks_access_policy_association" "admin" {
  for_each = toset(var.admin_principal_arns)

  cluster_name  = aws_eks_cluster.this.name
  principal_arn = aws_eks_access_entry.admin[each.key].principal_arn
  policy_arn    = "arn:${local.partition}:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"

  access_scope {
    type = "cluster"
  }
}

# Read-only principals (the CI plan role). Refreshing a helm_release reads the release's Secrets
# (sh.helm.release.v1.<name>.v<N>, listed by label in the release's namespace), which
# AmazonEKSViewPolicy leaves out; AmazonEKSAdminViewPolicy includes them, so it is scoped to the
# add-ons' namespaces only: the plan role can never read the app's Secrets (its namespace is not in
# the list) and has no access to cluster-scoped objects, which a refresh does not need.
resource "aws_eks_access_entry" "viewer" {
  for_each = toset(var.viewer_principal_arns)

  cluster_name  = aws_eks_cluster.this.name
  principal_arn = each.value
  type          = "STANDARD"

  tags = merge(var.tags, { Name = "${var.name}-viewer" })
}

resource "aws_eks_access_policy_association" "viewer" {
  for_each = toset(var.viewer_principal_arns)

  cluster_name  = aws_eks_cluster.this.name
  principal_arn = aws_eks_access_entry.viewer[each.key].principal_arn
  policy_arn    = "arn:${local.partition}:eks::aws:cluster-access-policy/AmazonEKSAdminViewPolicy"

  access_scope {
    type       = "namespace"
    namespaces = var.viewer_namespaces
  }

  lifecycle {
    precondition {
      condition     = length(var.viewer_namespaces) > 0
      error_message = "viewer_principal_arns need viewer_namespaces (a namespace-scoped policy names at least one)."
    }
  }
}

# ---------------------------------------------------------------------------
# Managed node group
# ---------------------------------------------------------------------------

data "aws_iam_policy_document" "node_assume" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["ec2.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "node" {
  name_prefix        = "${var.name}-node-"
  description        = "EKS managed nodes of ${var.name}. The VPC CNI has its own IRSA role, so the node role does not carry AmazonEKS_CNI_Policy."
  assume_role_policy = data.aws_iam_policy_document.node_assume.json

  tags = merge(var.tags, { Name = "${var.name}-node" })
}

resource "aws_iam_role_policy_attachment" "node" {
  for_each = toset([
    "AmazonEKSWorkerNodePolicy",
    "AmazonEC2ContainerRegistryPullOnly",
    "AmazonSSMManagedInstanceCore",
  ])

  role       = aws_iam_role.node.name
  policy_arn = "arn:${local.partition}:iam::aws:policy/${each.value}"
}

resource "aws_launch_template" "node" {
  name_prefix            = "${var.name}-node-"
  description            = "EKS managed nodes of ${var.name}: IMDSv2 only, encrypted gp3 root volume."
  update_default_version = true

  metadata_options {
    http_endpoint               = "enabled"
    http_tokens                 = "required"
    http_put_response_hop_limit = 1
    instance_metadata_tags      = "disabled"
  }

  block_device_mappings {
    device_name = "/dev/xvda"

    ebs {
      volume_size           = var.node_disk_size_gib
      volume_type           = "gp3"
      encrypted             = true
      delete_on_termination = true
    }
  }

  monitoring {
    enabled = true
  }

  tag_specifications {
    resource_type = "instance"
    tags          = merge(var.tags, { Name = "${var.name}-node" })
  }

  tag_specifications {
    resource_type = "volume"
    tags          = merge(var.tags, { Name = "${var.name}-node" })
  }

  tags = merge(var.tags, { Name = "${var.name}-node" })
}

resource "aws_eks_node_group" "default" {
  cluster_name    = aws_eks_cluster.this.name
  node_group_name = "default"
  node_role_arn   = aws_iam_role.node.arn
  subnet_ids      = var.subnet_ids
  version         = var.kubernetes_version
  ami_type        = "AL2023_x86_64_STANDARD"
  capacity_type   = var.node_capacity_type
  instance_types  = var.node_instance_types

  launch_template {
    id      = aws_launch_template.node.id
    version = aws_launch_template.node.latest_version
  }

  scaling_config {
    min_size     = var.node_min_size
    desired_size = var.node_desired_size
    max_size     = var.node_max_size
  }

  update_config {
    max_unavailable_percentage = 33
  }

  labels = {
    "shipshape.io/node-group" = "default"
  }

  tags = merge(var.tags, { Name = "${var.name}-default" })

  depends_on = [
    aws_iam_role_policy_attachment.node,
    aws_eks_addon.before_nodes,
  ]

  lifecycle {
    # The cluster autoscaler (modules/addons) owns the current size once the group exists.
    ignore_changes = [scaling_config[0].desired_size]

    precondition {
      condition     = var.node_min_size <= var.node_desired_size && var.node_desired_size <= var.node_max_size
      error_message = "node sizes must satisfy min <= desired <= max."
    }
  }
}

# Auto-discovery tags of the cluster autoscaler on the node group's Auto Scaling group. EKS adds
# the first two to managed node groups itself; they are declared here so that discovery does not
# depend on that, and the node-template label lets the autoscaler scale the group from zero.
locals {
  node_asg_tags = {
    "k8s.io/cluster-autoscaler/enabled"                                     = "true"
    "k8s.io/cluster-autoscaler/${var.name}"                                 = "owned"
    "k8s.io/cluster-autoscaler/node-template/label/shipshape.io/node-group" = "default"
  }
}

resource "aws_autoscaling_group_tag" "node_discovery" {
  for_each = local.node_asg_tags

  autoscaling_group_name = aws_eks_node_group.default.resources[0].autoscaling_groups[0].name

  tag {
    key                 = each.key
    value               = each.value
    propagate_at_launch = false
  }
}

# ---------------------------------------------------------------------------
# EKS managed add-ons
# ---------------------------------------------------------------------------

data "aws_iam_policy_document" "vpc_cni_assume" {
  statement {
    actions = ["sts:AssumeRoleWithWebIdentity"]

    principals {
      type        = "Federated"
      identifiers = [aws_iam_openid_connect_provider.this.arn]
    }

    condition {
      test     = "StringEquals"
      variable = "${local.oidc_issuer}:sub"
      values   = ["system:serviceaccount:kube-system:aws-node"]
    }

    condition {
      test     = "StringEquals"
      variable = "${local.oidc_issuer}:aud"
      values   = ["sts.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "vpc_cni" {
  name_prefix        = "${var.name}-vpc-cni-"
  description        = "IRSA role of the VPC CNI (kube-system/aws-node) in ${var.name}."
  assume_role_policy = data.aws_iam_policy_document.vpc_cni_assume.json

  tags = merge(var.tags, { Name = "${var.name}-vpc-cni" })
}

resource "aws_iam_role_policy_attachment" "vpc_cni" {
  role       = aws_iam_role.vpc_cni.name
  policy_arn = "arn:${local.partition}:iam::aws:policy/AmazonEKS_CNI_Policy"
}

locals {
  # Networking add-ons must be ready before nodes join; CoreDNS needs nodes to schedule on.
  addons_before_nodes = {
    vpc-cni = {
      service_account_role_arn = aws_iam_role.vpc_cni.arn
      # The VPC CNI's network policy agent (a container in the aws-node DaemonSet, eBPF) is what
      # enforces Kubernetes NetworkPolicies on EKS; without it the chart's policies are inert.
      configuration_values = var.enable_network_policy ? jsonencode({ enableNetworkPolicy = "true" }) : null
    }
    kube-proxy = {
      service_account_role_arn = null
      configuration_values     = null
    }
    eks-pod-identity-agent = {
      service_account_role_arn = null
      configuration_values     = null
    }
  }
}

# The newest version of each managed add-on for the cluster's Kubernetes version, resolved at plan
# time (an addon_version of null would stay at the version first installed and never upgrade).
data "aws_eks_addon_version" "this" {
  for_each = toset(["vpc-cni", "kube-proxy", "eks-pod-identity-agent", "coredns"])

  addon_name         = each.key
  kubernetes_version = aws_eks_cluster.this.version
  most_recent        = true
}

locals {
  addon_versions = {
    for name, found in data.aws_eks_addon_version.this : name => lookup(var.addon_versions, name, found.version)
  }
}

resource "aws_eks_addon" "before_nodes" {
  for_each = local.addons_before_nodes

  cluster_name                = aws_eks_cluster.this.name
  addon_name                  = each.key
  addon_version               = local.addon_versions[each.key]
  service_account_role_arn    = each.value.service_account_role_arn
  configuration_values        = each.value.configuration_values
  resolve_conflicts_on_create = "OVERWRITE"
  resolve_conflicts_on_update = "PRESERVE"

  tags = merge(var.tags, { Name = "${var.name}-${each.key}" })

  depends_on = [aws_iam_role_policy_attachment.vpc_cni]
}

resource "aws_eks_addon" "coredns" {
  cluster_name                = aws_eks_cluster.this.name
  addon_name                  = "coredns"
  addon_version               = local.addon_versions["coredns"]
  resolve_conflicts_on_create = "OVERWRITE"
  resolve_conflicts_on_update = "PRESERVE"

  tags = merge(var.tags, { Name = "${var.name}-coredns" })

  depends_on = [aws_eks_node_group.default]
}
