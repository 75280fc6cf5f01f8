data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
data "aws_region" "current" {}

locals {
  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition
  region     = data.aws_region.current.region

  zone_arns = [for id in var.route53_zone_ids : "arn:${local.partition}:route53:::hostedzone/${id}"]
  asg_arn   = "arn:${local.partition}:autoscaling:${local.region}:${local.account_id}:autoScalingGroup:*:autoScalingGroupName/*"

  # Cluster Autoscaler minor version must match the cluster's Kubernetes minor version.
  cluster_autoscaler_image_tag = coalesce(var.cluster_autoscaler_image_tag, "v${var.kubernetes_version}.0")

  # Argo CD bootstraps itself from Git: one "app of apps" per cluster, pointing at the directory
  # of this cluster's environment only (deploy/gitops/argocd/<env>).
  argocd_bootstrap = var.enable_argocd && var.argocd_bootstrap_path != ""
  elb_arn          = "arn:${local.partition}:elasticloadbalancing:${local.region}:${local.account_id}"

  # Add-ons that call AWS APIs, each with its own IRSA role bound to exactly one
  # namespace/service account. metrics-server and Argo CD call no AWS API and get no role.
  irsa = {
    for k, v in {
      aws-load-balancer-controller = {
        enabled         = var.enable_aws_load_balancer_controller
        namespace       = "kube-system"
        service_account = "aws-load-balancer-controller"
        policy          = one(data.aws_iam_policy_document.aws_load_balancer_controller[*].json)
      }
      external-dns = {
        enabled         = var.enable_external_dns
        namespace       = "external-dns"
        service_account = "external-dns"
        policy          = one(data.aws_iam_policy_document.external_dns[*].json)
      }
      cert-manager = {
        enabled         = var.enable_cert_manager
        namespace       = "cert-manager"
        service_account = "cert-manager"
        policy          = one(data.aws_iam_policy_document.cert_manager[*].json)
      }
      cluster-autoscaler = {
        enabled         = var.enable_cluster_autoscaler
        namespace       = "kube-system"
        service_account = "cluster-autoscaler"
        policy          = one(data.aws_iam_policy_document.cluster_autoscaler[*].json)
      }
    } : k => v if v.enabled
  }

  helm_defaults = {
    atomic          = true
    cleanup_on_fail = true
    max_history     = 10
    timeout         = 900
  }
}

# ---------------------------------------------------------------------------
# IRSA roles
# ---------------------------------------------------------------------------

data "aws_iam_policy_document" "assume" {
  for_each = local.irsa

  statement {
    actions = ["sts:AssumeRoleWithWebIdentity"]

    principals {
      type        = "Federated"
      identifiers = [var.oidc_provider_arn]
    }

    condition {
      test     = "StringEquals"
      variable = "${var.oidc_issuer}:sub"
      values   = ["system:serviceaccount:${each.value.namespace}:${each.value.service_account}"]
    }

    condition {
      test     = "StringEquals"
      variable = "${var.oidc_issuer}:aud"
      values   = ["sts.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "addon" {
  for_each = local.irsa

  name_prefix        = "${substr("${var.cluster_name}-${each.key}", 0, 37)}-"
  description        = "IRSA role of ${each.value.namespace}/${each.value.service_account} on ${var.cluster_name}."
  assume_role_policy = data.aws_iam_policy_document.assume[each.key].json

  tags = merge(var.tags, { Name = "${var.cluster_name}-${each.key}" })
}

resource "aws_iam_role_policy" "addon" {
  for_each = local.irsa

  name   = each.key
  role   = aws_iam_role.addon[each.key].id
  policy = each.value.policy
}

# ---------------------------------------------------------------------------
# AWS Load Balancer Controller: the upstream policy of the 2.13 release, with
# the load balancer ARNs narrowed to this account and region. Every mutating
# action on existing resources is conditioned on the elbv2.k8s.aws/cluster tag
# that the controller puts on what it creates.
# ---------------------------------------------------------------------------

data "aws_iam_policy_document" "aws_load_balancer_controller" {
  #checkov:skip=CKV_AWS_109:Upstream least-privilege policy of the controller: the EC2/ELB actions it needs cannot be scoped by ARN before the resources exist; they are conditioned on the controller's cluster tag instead.
  #checkov:skip=CKV_AWS_111:Same as above: write actions are constrained by tag conditions rather than by resource ARN.
  #checkov:skip=CKV_AWS_356:Same as above: Describe/Create actions need "*" because the resources do not exist yet.
  count = var.enable_aws_load_balancer_controller ? 1 : 0

  statement {
    sid       = "ServiceLinkedRole"
    actions   = ["iam:CreateServiceLinkedRole"]
    resources = ["*"]

    condition {
      test     = "StringEquals"
      variable = "iam:AWSServiceName"
      values   = ["elasticloadbalancing.amazonaws.com"]
    }
  }

  statement {
    sid = "Describe"
    actions = [
      "ec2:DescribeAccountAttributes",
      "ec2:DescribeAddresses",
      "ec2:DescribeAvailabilityZones",
      "ec2:DescribeInternetGateways",
      "ec2:DescribeVpcs",
      "ec2:DescribeVpcPeeringConnections",
      "ec2:DescribeSubnets",
      "ec2:DescribeSecurityGroups",
      "ec2:DescribeInstances",
      "ec2:DescribeNetworkInterfaces",
      "ec2:DescribeTags",
      "ec2:DescribeRouteTables",
      "ec2:DescribeIpamPools",
      "ec2:GetCoipPoolUsage",
      "ec2:DescribeCoipPools",
      "ec2:GetSecurityGroupsForVpc",
      "elasticloadbalancing:DescribeLoadBalancers",
      "elasticloadbalancing:DescribeLoadBalancerAttributes",
      "elasticloadbalancing:DescribeListeners",
      "elasticloadbalancing:DescribeListenerCertificates",
      "elasticloadbalancing:DescribeListenerAttributes",
      "elasticloadbalancing:DescribeSSLPolicies",
      "elasticloadbalancing:DescribeRules",
      "elasticloadbalancing:DescribeTargetGroups",
      "elasticloadbalancing:DescribeTargetGroupAttributes",
      "elasticloadbalancing:DescribeTargetHealth",
      "elasticloadbalancing:DescribeTags",
      "elasticloadbalancing:DescribeTrustStores",
      "elasticloadbalancing:DescribeCapacityReservation",
    ]
    resources = ["*"]
  }

  statement {
    sid = "Integrations"
    actions = [
      "cognito-idp:DescribeUserPoolClient",
      "acm:ListCertificates",
      "acm:DescribeCertificate",
      "iam:ListServerCertificates",
      "iam:GetServerCertificate",
      "waf-regional:GetWebACL",
      "waf-regional:GetWebACLForResource",
      "waf-regional:AssociateWebACL",
      "waf-regional:DisassociateWebACL",
      "wafv2:GetWebACL",
      "wafv2:GetWebACLForResource",
      "wafv2:AssociateWebACL",
      "wafv2:DisassociateWebACL",
      "shield:GetSubscriptionState",
      "shield:DescribeProtection",
      "shield:CreateProtection",
      "shield:DeleteProtection",
    ]
    resources = ["*"]
  }

  statement {
    sid       = "SecurityGroupIngress"
    actions   = ["ec2:AuthorizeSecurityGroupIngress", "ec2:RevokeSecurityGroupIngress"]
    resources = ["*"]
  }

  statement {
    sid       = "CreateSecurityGroup"
    actions   = ["ec2:CreateSecurityGroup"]
    resources = ["*"]
  }

  statement {
    sid       = "TagNewSecurityGroup"
    actions   = ["ec2:CreateTags"]
    resources = ["arn:${local.partition}:ec2:${local.region}:${local.account_id}:security-group/*"]

    condition {
      test     = "StringEquals"
      variable = "ec2:CreateAction"
      values   = ["CreateSecurityGroup"]
    }

    condition {
      test     = "Null"
      variable = "aws:RequestTag/elbv2.k8s.aws/cluster"
      values   = ["false"]
    }
  }

  statement {
    sid       = "RetagOwnSecurityGroup"
    actions   = ["ec2:CreateTags", "ec2:DeleteTags"]
    resources = ["arn:${local.partition}:ec2:${local.region}:${local.account_id}:security-group/*"]

    condition {
      test     = "Null"
      variable = "aws:RequestTag/elbv2.k8s.aws/cluster"
      values   = ["true"]
    }

    condition {
      test     = "Null"
      variable = "aws:ResourceTag/elbv2.k8s.aws/cluster"
      values   = ["false"]
    }
  }

  statement {
    sid = "ManageOwnSecurityGroup"
    actions = [
      "ec2:AuthorizeSecurityGroupIngress",
      "ec2:RevokeSecurityGroupIngress",
      "ec2:DeleteSecurityGroup",
    ]
    resources = ["*"]

    condition {
      test     = "Null"
      variable = "aws:ResourceTag/elbv2.k8s.aws/cluster"
      values   = ["false"]
    }
  }

  statement {
    sid = "CreateTaggedLoadBalancer"
    actions = [
      "elasticloadbalancing:CreateLoadBalancer",
      "elasticloadbalancing:CreateTargetGroup",
    ]
    resources = ["*"]

    condition {
      test     = "Null"
      variable = "aws:RequestTag/elbv2.k8s.aws/cluster"
      values   = ["false"]
    }
  }

  statement {
    sid = "ListenersAndRules"
    actions = [
      "elasticloadbalancing:CreateListener",
      "elasticloadbalancing:DeleteListener",
      "elasticloadbalancing:CreateRule",
      "elasticloadbalancing:DeleteRule",
    ]
    resources = ["*"]
  }

  statement {
    sid     = "RetagOwnLoadBalancer"
    actions = ["elasticloadbalancing:AddTags", "elasticloadbalancing:RemoveTags"]
    resources = [
      "${local.elb_arn}:targetgroup/*/*",
      "${local.elb_arn}:loadbalancer/net/*/*",
      "${local.elb_arn}:loadbalancer/app/*/*",
    ]

    condition {
      test     = "Null"
      variable = "aws:RequestTag/elbv2.k8s.aws/cluster"
      values   = ["true"]
    }

    condition {
      test     = "Null"
      variable = "aws:ResourceTag/elbv2.k8s.aws/cluster"
      values   = ["false"]
    }
  }

  statement {
    sid     = "TagListenersAndRules"
    actions = ["elasticloadbalancing:AddTags", "elasticloadbalancing:RemoveTags"]
    resources = [
      "${local.elb_arn}:listener/net/*/*/*",
      "${local.elb_arn}:listener/app/*/*/*",
      "${local.elb_arn}:listener-rule/net/*/*/*",
      "${local.elb_arn}:listener-rule/app/*/*/*",
    ]
  }

  statement {
    sid = "ManageOwnLoadBalancer"
    actions = [
      "elasticloadbalancing:ModifyLoadBalancerAttributes",
      "elasticloadbalancing:SetIpAddressType",
      "elasticloadbalancing:SetSecurityGroups",
      "elasticloadbalancing:SetSubnets",
      "elasticloadbalancing:DeleteLoadBalancer",
      "elasticloadbalancing:ModifyTargetGroup",
      "elasticloadbalancing:ModifyTargetGroupAttributes",
      "elasticloadbalancing:DeleteTargetGroup",
      "elasticloadbalancing:ModifyListenerAttributes",
      "elasticloadbalancing:ModifyCapacityReservation",
      "elasticloadbalancing:ModifyIpPools",
    ]
    resources = ["*"]

    condition {
      test     = "Null"
      variable = "aws:ResourceTag/elbv2.k8s.aws/cluster"
      values   = ["false"]
    }
  }

  statement {
    sid     = "TagOnCreate"
    actions = ["elasticloadbalancing:AddTags"]
    resources = [
      "${local.elb_arn}:targetgroup/*/*",
      "${local.elb_arn}:loadbalancer/net/*/*",
      "${local.elb_arn}:loadbalancer/app/*/*",
    ]

    condition {
      test     = "StringEquals"
      variable = "elasticloadbalancing:CreateAction"
      values   = ["CreateTargetGroup", "CreateLoadBalancer"]
    }

    condition {
      test     = "Null"
      variable = "aws:RequestTag/elbv2.k8s.aws/cluster"
      values   = ["false"]
    }
  }

  statement {
    sid       = "Targets"
    actions   = ["elasticloadbalancing:RegisterTargets", "elasticloadbalancing:DeregisterTargets"]
    resources = ["${local.elb_arn}:targetgroup/*/*"]
  }

  statement {
    sid = "ListenerSettings"
    actions = [
      "elasticloadbalancing:SetWebAcl",
      "elasticloadbalancing:ModifyListener",
      "elasticloadbalancing:AddListenerCertificates",
      "elasticloadbalancing:RemoveListenerCertificates",
      "elasticloadbalancing:ModifyRule",
      "elasticloadbalancing:SetRulePriorities",
    ]
    resources = ["*"]
  }
}

resource "helm_release" "aws_load_balancer_controller" {
  count = var.enable_aws_load_balancer_controller ? 1 : 0

  name            = "aws-load-balancer-controller"
  repository      = "https://aws.github.io/eks-charts"
  chart           = "aws-load-balancer-controller"
  version         = var.chart_versions.aws_load_balancer_controller
  namespace       = "kube-system"
  atomic          = local.helm_defaults.atomic
  cleanup_on_fail = local.helm_defaults.cleanup_on_fail
  max_history     = local.helm_defaults.max_history
  timeout         = local.helm_defaults.timeout

  values = [yamlencode({
    clusterName  = var.cluster_name
    region       = local.region
    vpcId        = var.vpc_id
    replicaCount = var.controller_replicas
    serviceAccount = {
      create      = true
      name        = local.irsa["aws-load-balancer-controller"].service_account
      annotations = { "eks.amazonaws.com/role-arn" = aws_iam_role.addon["aws-load-balancer-controller"].arn }
    }
    podDisruptionBudget = { maxUnavailable = 1 }
    defaultTags         = var.load_balancer_tags
  })]

  depends_on = [aws_iam_role_policy.addon]
}

# ---------------------------------------------------------------------------
# ExternalDNS: records only in the listed hosted zones.
# ---------------------------------------------------------------------------

data "aws_iam_policy_document" "external_dns" {
  #checkov:skip=CKV_AWS_356:route53:ListHostedZones cannot be scoped to a resource; every write is limited to the listed hosted zones.
  count = var.enable_external_dns ? 1 : 0

  statement {
    sid       = "ChangeRecords"
    actions   = ["route53:ChangeResourceRecordSets"]
    resources = local.zone_arns
  }

  statement {
    sid = "ReadZones"
    actions = [
      "route53:ListResourceRecordSets",
      "route53:ListTagsForResource",
    ]
    resources = local.zone_arns
  }

  statement {
    sid       = "ListZones"
    actions   = ["route53:ListHostedZones", "route53:ListTagsForResources"]
    resources = ["*"]
  }
}

resource "helm_release" "external_dns" {
  count = var.enable_external_dns ? 1 : 0

  name             = "external-dns"
  repository       = "https://kubernetes-sigs.github.io/external-dns/"
  chart            = "external-dns"
  version          = var.chart_versions.external_dns
  namespace        = local.irsa["external-dns"].namespace
  create_namespace = true
  atomic           = local.helm_defaults.atomic
  cleanup_on_fail  = local.helm_defaults.cleanup_on_fail
  max_history      = local.helm_defaults.max_history
  timeout          = local.helm_defaults.timeout

  values = [yamlencode({
    provider      = { name = "aws" }
    env           = [{ name = "AWS_DEFAULT_REGION", value = local.region }]
    sources       = ["service", "ingress"]
    policy        = var.external_dns_policy
    registry      = "txt"
    txtOwnerId    = var.cluster_name
    domainFilters = var.domain_filters
    extraArgs     = [for id in var.route53_zone_ids : "--zone-id-filter=${id}"]
    serviceAccount = {
      create      = true
      name        = local.irsa["external-dns"].service_account
      annotations = { "eks.amazonaws.com/role-arn" = aws_iam_role.addon["external-dns"].arn }
    }
  })]

  depends_on = [aws_iam_role_policy.addon, helm_release.aws_load_balancer_controller]

  lifecycle {
    precondition {
      condition     = length(var.route53_zone_ids) > 0
      error_message = "ExternalDNS needs route53_zone_ids (or set enable_external_dns = false)."
    }
  }
}

# ---------------------------------------------------------------------------
# Cluster Autoscaler: grows and shrinks the managed node group (its Auto Scaling
# group is found by the k8s.io/cluster-autoscaler/* tags the cluster module sets).
# Writes are limited to Auto Scaling groups tagged as owned by this cluster.
# ---------------------------------------------------------------------------

data "aws_iam_policy_document" "cluster_autoscaler" {
  #checkov:skip=CKV_AWS_356:Describe calls of Auto Scaling and EC2 cannot be scoped to a resource; every write is limited to the Auto Scaling groups tagged as owned by this cluster.
  count = var.enable_cluster_autoscaler ? 1 : 0

  statement {
    sid = "Describe"
    actions = [
      "autoscaling:DescribeAutoScalingGroups",
      "autoscaling:DescribeAutoScalingInstances",
      "autoscaling:DescribeLaunchConfigurations",
      "autoscaling:DescribeScalingActivities",
      "autoscaling:DescribeTags",
      "ec2:DescribeImages",
      "ec2:DescribeInstanceTypes",
      "ec2:DescribeLaunchTemplateVersions",
      "ec2:GetInstanceTypesFromInstanceRequirements",
    ]
    resources = ["*"]
  }

  statement {
    sid       = "DescribeNodegroups"
    actions   = ["eks:DescribeNodegroup"]
    resources = ["arn:${local.partition}:eks:${local.region}:${local.account_id}:nodegroup/${var.cluster_name}/*/*"]
  }

  statement {
    sid = "ScaleOwnGroups"
    actions = [
      "autoscaling:SetDesiredCapacity",
      "autoscaling:TerminateInstanceInAutoScalingGroup",
    ]
    resources = [local.asg_arn]

    condition {
      test     = "StringEquals"
      variable = "aws:ResourceTag/k8s.io/cluster-autoscaler/${var.cluster_name}"
      values   = ["owned"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:ResourceTag/k8s.io/cluster-autoscaler/enabled"
      values   = ["true"]
    }
  }
}

resource "helm_release" "cluster_autoscaler" {
  count = var.enable_cluster_autoscaler ? 1 : 0

  name            = "cluster-autoscaler"
  repository      = "https://kubernetes.github.io/autoscaler"
  chart           = "cluster-autoscaler"
  version         = var.chart_versions.cluster_autoscaler
  namespace       = local.irsa["cluster-autoscaler"].namespace
  atomic          = local.helm_defaults.atomic
  cleanup_on_fail = local.helm_defaults.cleanup_on_fail
  max_history     = local.helm_defaults.max_history
  timeout         = local.helm_defaults.timeout

  values = [yamlencode({
    cloudProvider = "aws"
    awsRegion     = local.region
    autoDiscovery = { clusterName = var.cluster_name }
    image         = { tag = local.cluster_autoscaler_image_tag }
    replicaCount  = var.controller_replicas
    podDisruptionBudget = {
      maxUnavailable = 1
    }
    rbac = {
      serviceAccount = {
        create      = true
        name        = local.irsa["cluster-autoscaler"].service_account
        annotations = { "eks.amazonaws.com/role-arn" = aws_iam_role.addon["cluster-autoscaler"].arn }
      }
    }
    extraArgs = {
      "balance-similar-node-groups" = true
      expander                      = "least-waste"
      "skip-nodes-with-system-pods" = false
      "scale-down-unneeded-time"    = "10m"
    }
  })]

  depends_on = [aws_iam_role_policy.addon]
}

# ---------------------------------------------------------------------------
# metrics-server: no AWS access.
# ---------------------------------------------------------------------------

resource "helm_release" "metrics_server" {
  count = var.enable_metrics_server ? 1 : 0

  name            = "metrics-server"
  repository      = "https://kubernetes-sigs.github.io/metrics-server/"
  chart           = "metrics-server"
  version         = var.chart_versions.metrics_server
  namespace       = "kube-system"
  atomic          = local.helm_defaults.atomic
  cleanup_on_fail = local.helm_defaults.cleanup_on_fail
  max_history     = local.helm_defaults.max_history
  timeout         = local.helm_defaults.timeout

  values = [yamlencode({
    replicas            = var.controller_replicas
    podDisruptionBudget = { enabled = var.controller_replicas > 1, maxUnavailable = 1 }
  })]

  depends_on = [helm_release.aws_load_balancer_controller]
}

# ---------------------------------------------------------------------------
# cert-manager: DNS-01 through Route 53, TXT records under _acme-challenge only.
# Its ClusterIssuers come from this module's own chart (helm_release.cluster_issuers below).
# ---------------------------------------------------------------------------

data "aws_iam_policy_document" "cert_manager" {
  #checkov:skip=CKV_AWS_356:route53:ListHostedZonesByName cannot be scoped to a resource; record changes are limited to TXT records under _acme-challenge in the listed zones.
  count = var.enable_cert_manager ? 1 : 0

  statement {
    sid       = "GetChange"
    actions   = ["route53:GetChange"]
    resources = ["arn:${local.partition}:route53:::change/*"]
  }

  statement {
    sid       = "ChallengeRecords"
    actions   = ["route53:ChangeResourceRecordSets"]
    resources = local.zone_arns

    condition {
      test     = "ForAllValues:StringEquals"
      variable = "route53:ChangeResourceRecordSetsRecordTypes"
      values   = ["TXT"]
    }

    condition {
      test     = "ForAllValues:StringLike"
      variable = "route53:ChangeResourceRecordSetsNormalizedRecordNames"
      values   = ["_acme-challenge.*"]
    }
  }

  statement {
    sid       = "ReadRecords"
    actions   = ["route53:ListResourceRecordSets"]
    resources = local.zone_arns
  }

  statement {
    sid       = "FindZone"
    actions   = ["route53:ListHostedZonesByName"]
    resources = ["*"]
  }
}

resource "helm_release" "cert_manager" {
  count = var.enable_cert_manager ? 1 : 0

  name             = "cert-manager"
  repository       = "https://charts.jetstack.io"
  chart            = "cert-manager"
  version          = var.chart_versions.cert_manager
  namespace        = local.irsa["cert-manager"].namespace
  create_namespace = true
  atomic           = local.helm_defaults.atomic
  cleanup_on_fail  = local.helm_defaults.cleanup_on_fail
  max_history      = local.helm_defaults.max_history
  timeout          = local.helm_defaults.timeout

  values = [yamlencode({
    crds         = { enabled = true, keep = true }
    replicaCount = var.controller_replicas
    webhook      = { replicaCount = var.controller_replicas }
    podDisruptionBudget = {
      enabled        = var.controller_replicas > 1
      maxUnavailable = 1
    }
    serviceAccount = {
      create      = true
      name        = local.irsa["cert-manager"].service_account
      annotations = { "eks.amazonaws.com/role-arn" = aws_iam_role.addon["cert-manager"].arn }
    }
    # The IRSA token is mounted 0600 for the pod's fsGroup; cert-manager runs as 1000.
    securityContext = { fsGroup = 1001 }
  })]

  depends_on = [aws_iam_role_policy.addon, helm_release.aws_load_balancer_controller]

  lifecycle {
    precondition {
      condition     = length(var.route53_zone_ids) > 0
      error_message = "cert-manager DNS-01 needs route53_zone_ids (or set enable_cert_manager = false)."
    }
  }
}

# The ClusterIssuers (ACME, DNS-01 in the listed zones): a chart of this module, so they are
# installed right after the CRDs exist and only where cert-manager is. Names: `letsencrypt` (the
# chart's ingress.certManager.clusterIssuer default) and `letsencrypt-staging`.
resource "helm_release" "cluster_issuers" {
  count = var.enable_cert_manager ? 1 : 0

  name            = "cluster-issuers"
  chart           = "${path.module}/charts/cluster-issuers"
  namespace       = helm_release.cert_manager[0].namespace
  atomic          = local.helm_defaults.atomic
  cleanup_on_fail = local.helm_defaults.cleanup_on_fail
  max_history     = local.helm_defaults.max_history
  timeout         = local.helm_defaults.timeout

  values = [yamlencode({
    email  = var.acme_email
    region = local.region
    zones  = [for id in var.route53_zone_ids : { id = id, domains = var.domain_filters }]
  })]

  depends_on = [helm_release.cert_manager]

  lifecycle {
    precondition {
      condition     = var.acme_email != "" && length(var.domain_filters) > 0
      error_message = "The ClusterIssuers need acme_email and domain_filters (or set enable_cert_manager = false)."
    }
  }
}

# ---------------------------------------------------------------------------
# External Secrets Operator: no AWS permissions of its own. The app's
# SecretStore uses `auth.jwt.serviceAccountRef` = the app's service account, so
# the secret is read with the app's IRSA role (see the root output
# secret_store_manifest).
# ---------------------------------------------------------------------------

resource "helm_release" "external_secrets" {
  count = var.enable_external_secrets ? 1 : 0

  name             = "external-secrets"
  repository       = "https://charts.external-secrets.io"
  chart            = "external-secrets"
  version          = var.chart_versions.external_secrets
  namespace        = "external-secrets"
  create_namespace = true
  atomic           = local.helm_defaults.atomic
  cleanup_on_fail  = local.helm_defaults.cleanup_on_fail
  max_history      = local.helm_defaults.max_history
  timeout          = local.helm_defaults.timeout

  values = [yamlencode({
    installCRDs  = true
    replicaCount = var.controller_replicas
    # More than one replica needs leader election, or every replica reconciles (and writes) at once.
    leaderElect = var.controller_replicas > 1
    # minAvailable only: the chart's default PDB already sets minAvailable: 1, and a PDB with both
    # minAvailable and maxUnavailable is rejected by the API (the atomic release then rolls back).
    podDisruptionBudget = {
      enabled      = var.controller_replicas > 1
      minAvailable = 1
    }
  })]

  depends_on = [helm_release.aws_load_balancer_controller]
}

# ---------------------------------------------------------------------------
# Argo CD: no AWS access (pulls Git and OCI charts over HTTPS). Not exposed:
# reach it with `kubectl port-forward` or add an Ingress with SSO.
# ---------------------------------------------------------------------------

resource "helm_release" "argocd" {
  count = var.enable_argocd ? 1 : 0

  name             = "argo-cd"
  repository       = "https://argoproj.github.io/argo-helm"
  chart            = "argo-cd"
  version          = var.chart_versions.argocd
  namespace        = "argocd"
  create_namespace = true
  atomic           = local.helm_defaults.atomic
  cleanup_on_fail  = local.helm_defaults.cleanup_on_fail
  max_history      = local.helm_defaults.max_history
  timeout          = local.helm_defaults.timeout

  values = [yamlencode({
    dex            = { enabled = false }
    server         = { replicas = var.argocd_replicas }
    repoServer     = { replicas = var.argocd_replicas }
    applicationSet = { replicas = var.argocd_replicas }
    configs = {
      params = { "server.insecure" = false }
    }
  })]

  depends_on = [helm_release.aws_load_balancer_controller, helm_release.cert_manager]
}

# App of apps: the cluster's Argo CD syncs deploy/gitops/argocd/<env> (the AppProject, the
# namespace, the SecretStore and the shipshape Application of this environment only).
resource "helm_release" "argocd_bootstrap" {
  count = local.argocd_bootstrap ? 1 : 0

  name            = "argocd-bootstrap"
  repository      = "https://argoproj.github.io/argo-helm"
  chart           = "argocd-apps"
  version         = var.chart_versions.argocd_apps
  namespace       = helm_release.argocd[0].namespace
  atomic          = local.helm_defaults.atomic
  cleanup_on_fail = local.helm_defaults.cleanup_on_fail
  max_history     = local.helm_defaults.max_history
  timeout         = local.helm_defaults.timeout

  values = [yamlencode({
    # Its own project, not the unrestricted `default`: this repository only, the namespaces of
    # Argo CD and of the app only, and only the kinds deploy/gitops/argocd/<env> holds.
    projects = {
      shipshape-bootstrap = {
        namespace   = helm_release.argocd[0].namespace
        description = "App of apps of this environment (deploy/gitops/argocd/<env>)"
        sourceRepos = [var.argocd_bootstrap_repo_url]
        destinations = [
          { server = "https://kubernetes.default.svc", namespace = helm_release.argocd[0].namespace },
          { server = "https://kubernetes.default.svc", namespace = var.app_namespace },
        ]
        clusterResourceWhitelist = [{ group = "", kind = "Namespace" }]
        # Every kind deploy/gitops/argocd/<env> holds, or Argo CD refuses the whole sync: the
        # chart repository's Secret (argocd/base), the app's ServiceAccount and SecretStore
        # (platform/<env>) besides the project and the Application.
        namespaceResourceWhitelist = [
          { group = "argoproj.io", kind = "AppProject" },
          { group = "argoproj.io", kind = "Application" },
          { group = "", kind = "Secret" },
          { group = "", kind = "ServiceAccount" },
          { group = "external-secrets.io", kind = "SecretStore" },
        ]
      }
    }
    applications = {
      shipshape-bootstrap = {
        namespace = helm_release.argocd[0].namespace
        project   = "shipshape-bootstrap"
        source = {
          repoURL        = var.argocd_bootstrap_repo_url
          targetRevision = var.argocd_bootstrap_revision
          path           = var.argocd_bootstrap_path
        }
        destination = {
          server    = "https://kubernetes.default.svc"
          namespace = helm_release.argocd[0].namespace
        }
        syncPolicy = {
          # Never delete an Application (and with it a running environment) because a file
          # went missing; prod's Application itself still syncs only by hand.
          automated = { prune = false, selfHeal = true }
        }
      }
    }
  })]

  depends_on = [helm_release.argocd, helm_release.external_secrets]
}
