"""What `terraform validate` and `terraform plan` would catch, offline (issue 22).

The providers cannot be downloaded, so:
- every resource, data source and provider block is checked against the provider schemas carried
  by the npm packages @cdktf/provider-aws 21.22.1 (hashicorp/aws 6.25.0) and
  @cdktf/provider-helm 12.1.2 (hashicorp/helm 3.1.1): argument and block names, required
  arguments, and every attribute reference (tests/support/provider_schema.py,
  tests/support/terraform_checks.py);
- every for_each/count is followed from each environment root through locals, variables and
  module outputs: none may depend on an attribute the provider computes at apply
  ("Invalid for_each argument" on the first plan).
Each check is shown catching a seeded mistake in a copy of the tree.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.support import provider_schema
from tests.support.terraform_checks import config_dirs, plan_time_problems, schema_problems
from tests.support.terraform_model import Config

ROOT = Path(__file__).resolve().parents[2]
TF = ROOT / "infra" / "terraform"


@pytest.fixture(scope="module")
def schemas() -> dict[str, dict]:
    return {name: provider_schema.load(name) for name in provider_schema.PROVIDERS}


def copy_tree(tmp_path: Path) -> Path:
    tree = tmp_path / "terraform"
    shutil.copytree(TF, tree, ignore=shutil.ignore_patterns(".terraform"))
    return tree


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"seed anchor {old!r} not in {path}"
    path.write_text(text.replace(old, new, 1))


def test_schemas_come_from_the_manifests(schemas: dict[str, dict]) -> None:
    aws, helm = schemas["aws"], schemas["helm"]
    assert len(aws["resource"]) > 1000
    assert len(aws["data"]) > 400
    eks = aws["resource"]["aws_eks_cluster"]
    assert eks["args"]["role_arn"]["required"]
    assert eks["blocks"]["vpc_config"]["required"]
    assert eks["attrs"]["vpc_config"]["nested"]["cluster_security_group_id"]["computed"]
    assert helm["resource"]["helm_release"]["args"]["chart"]["required"]
    assert "kubernetes" in helm["provider"]["blocks"]


def test_every_block_is_checked(schemas: dict[str, dict]) -> None:
    """The check covers every resource and data source of every configuration."""
    counted = 0
    for directory in config_dirs(TF):
        config = Config.load(directory)
        for kind in ("resource", "data"):
            for rtype, _ in config.resources(kind):
                assert rtype in schemas[rtype.split("_", 1)[0]][kind], rtype
                counted += 1
    assert counted >= 100, counted


def test_every_block_matches_the_provider_schema() -> None:
    problems = schema_problems(TF)
    assert not problems, "\n".join(problems)


def test_schema_check_catches_seeded_mistakes(tmp_path: Path) -> None:
    tree = copy_tree(tmp_path)
    cluster = tree / "modules" / "cluster"
    edit(
        cluster / "main.tf",
        "  role_arn = aws_iam_role.cluster.arn\n",
        "  rolearn = aws_iam_role.cluster.arn\n",
    )
    edit(
        cluster / "outputs.tf",
        "vpc_config[0].cluster_security_group_id",
        "vpc_config[0].security_group",
    )
    edit(
        tree / "modules" / "registry" / "main.tf",
        "    scan_on_push = true",
        "    scan_on_pushes = true",
    )
    edit(tree / "envs" / "prod" / "addons" / "providers.tf", "    host ", "    hostname ")
    problems = "\n".join(schema_problems(tree))
    assert "aws_eks_cluster.this: unknown argument or block 'rolearn'" in problems, problems
    assert "aws_eks_cluster.this: required argument or block 'role_arn' is missing" in problems
    assert "has no attribute 'security_group'" in problems
    assert "image_scanning_configuration: unknown argument or block 'scan_on_pushes'" in problems
    assert "provider helm.kubernetes: unknown argument or block 'hostname'" in problems
    assert "'scan_on_push' is missing" in problems  # the misspelt required argument
    assert len(problems.splitlines()) == 6, problems


def test_schema_check_catches_an_unknown_resource_type(tmp_path: Path) -> None:
    tree = copy_tree(tmp_path)
    with (tree / "modules" / "registry" / "main.tf").open("a") as f:
        f.write('\nresource "aws_ecr_repo" "typo" {\n  name = "x"\n}\n')
    assert any("aws_ecr_repo.typo: no such resource type" in p for p in schema_problems(tree))


def test_for_each_and_count_are_known_at_plan_time() -> None:
    problems = plan_time_problems(TF)
    assert not problems, "\n".join(problems)


def test_plan_time_check_catches_for_each_over_a_computed_id(tmp_path: Path) -> None:
    """The first-plan failure of issue 22: for_each over the EKS cluster security group id."""
    tree = copy_tree(tmp_path)
    with (tree / "modules" / "cluster" / "main.tf").open("a") as f:
        f.write(
            '\nresource "aws_vpc_security_group_egress_rule" "seeded" {\n'
            "  for_each = toset([aws_eks_cluster.this.vpc_config[0].cluster_security_group_id])\n"
            '  security_group_id = each.value\n  ip_protocol = "-1"\n'
            '  cidr_ipv4 = "10.0.0.0/8"\n}\n'
        )
    problems = plan_time_problems(tree)
    assert any(
        "aws_vpc_security_group_egress_rule.seeded for_each" in p
        and "cluster_security_group_id (computed by the provider" in p
        for p in problems
    ), problems


def test_plan_time_check_follows_module_outputs_and_variables(tmp_path: Path) -> None:
    """A computed value passed through a module output into another module's count is found."""
    tree = copy_tree(tmp_path)
    with (tree / "modules" / "registry" / "variables.tf").open("a") as f:
        f.write(
            '\nvariable "seeded_ids" {\n  description = "seeded"\n  type = list(string)\n  default = []\n}\n'
        )
    with (tree / "modules" / "registry" / "main.tf").open("a") as f:
        f.write(
            '\nresource "aws_kms_alias" "seeded" {\n  count = length(var.seeded_ids) > 0 && var.seeded_ids[0] != "" ? 1 : 0\n'
            '  name = "alias/seeded"\n  target_key_id = aws_kms_key.this.key_id\n}\n'
        )
    edit(
        tree / "envs" / "dev" / "main.tf",
        '  repository_name     = "shipshape"\n',
        '  repository_name     = "shipshape"\n  seeded_ids          = [module.network.vpc_id]\n',
    )
    problems = plan_time_problems(tree)
    assert any(
        p.startswith("envs/dev.module.registry: aws_kms_alias.seeded count")
        and "module.network.vpc_id <- aws_vpc.this.id (computed" in p
        for p in problems
    ), problems


def test_schema_check_covers_ephemeral_resources(tmp_path: Path) -> None:
    """Ephemeral blocks (not in the cdktf manifests) are checked against the same-named data
    source: a misspelt argument and a misspelt attribute reference are both caught."""
    tree = copy_tree(tmp_path)
    main = tree / "modules" / "app-secrets" / "main.tf"
    edit(main, "  password_length     = 40", "  length              = 40")
    edit(main, '["database"].random_password', '["database"].result')
    problems = "\n".join(schema_problems(tree))
    assert (
        "ephemeral.aws_secretsmanager_random_password.this: unknown argument or block 'length'"
        in problems
    )
    assert "has no attribute 'result'" in problems
