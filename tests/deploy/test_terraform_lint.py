"""tflint and trivy config over infra/terraform (issue 22), each shown catching a seeded mistake.

Both are built from the Go module proxy at pinned versions by scripts/go-tool.sh (cached per
machine by version; cold: tflint ~2.5-7 min, trivy ~12 min and 3.3 GB; warm: instant). The tests
assert on what the tools report (issues, scanned files, failures), never only on exit codes.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
TF = ROOT / "infra" / "terraform"
TFLINT = ("github.com/terraform-linters/tflint", "v0.64.0")
TRIVY = ("github.com/aquasecurity/trivy/cmd/trivy", "v0.74.0", "GOEXPERIMENT=jsonv2")


def go_tool(*spec: str) -> str:
    proc = subprocess.run(
        ["bash", str(ROOT / "scripts" / "go-tool.sh"), *spec],
        capture_output=True,
        text=True,
        timeout=3600,
        check=False,
    )
    assert proc.returncode == 0, f"building {spec[0]} failed:\n{proc.stderr[-4000:]}"
    return proc.stdout.strip().splitlines()[-1]


# ---------------------------------------------------------------------------
# tflint: bundled terraform ruleset, preset "all" (infra/terraform/.tflint.hcl)
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tflint() -> str:
    return go_tool(*TFLINT)


def run_tflint(tflint: str, tree: Path) -> dict[str, Any]:
    proc = subprocess.run(
        [tflint, "--recursive", "--config", str(tree / ".tflint.hcl"), "--format", "json",
         "--force"],
        cwd=tree, capture_output=True, text=True, timeout=600, check=False,
        env={**os.environ, "TFLINT_LOG": "", "TF_CLI_CONFIG_FILE": os.devnull},
    )  # fmt: skip
    report = json.loads(proc.stdout)
    assert not report["errors"], report["errors"]
    return dict(report)


def test_tflint_config_enables_the_whole_bundled_ruleset() -> None:
    text = (TF / ".tflint.hcl").read_text()
    assert re.search(r'plugin "terraform"\s*\{[^}]*enabled\s*=\s*true[^}]*preset\s*=\s*"all"', text)


def test_tflint_reports_no_issue(tflint: str) -> None:
    issues = run_tflint(tflint, TF)["issues"]
    assert not issues, "\n".join(
        f"{i['rule']['name']} {i['range']['filename']}:{i['range']['start']['line']} {i['message']}"
        for i in issues
    )


def test_tflint_catches_seeded_mistakes_in_modules_roots_and_bootstrap(
    tflint: str, tmp_path: Path
) -> None:
    """A module, a cluster root, an add-ons root and the bootstrap each get one mistake; all four
    are found (so --recursive reaches the nested envs/<env>/addons roots)."""
    tree = tmp_path / "terraform"
    shutil.copytree(TF, tree, ignore=shutil.ignore_patterns(".terraform"))
    with (tree / "modules" / "database" / "variables.tf").open("a") as f:
        f.write('\nvariable "never_used" {\n  description = "seeded"\n  type        = string\n}\n')
    with (tree / "envs" / "prod" / "main.tf").open("a") as f:
        f.write('\nlocals {\n  seeded_interpolation = "${var.region}"\n}\n')
    with (tree / "bootstrap" / "variables.tf").open("a") as f:
        f.write('\nvariable "untyped" {\n  description = "seeded"\n}\n')
    with (tree / "envs" / "staging" / "addons" / "outputs.tf").open("a") as f:
        f.write('\noutput "undocumented" {\n  value = var.region\n}\n')
    issues = run_tflint(tflint, tree)["issues"]
    found = {(i["rule"]["name"], str(Path(i["range"]["filename"]).parent)) for i in issues}
    assert ("terraform_unused_declarations", "modules/database") in found, found
    assert ("terraform_deprecated_interpolation", "envs/prod") in found, found
    assert ("terraform_typed_variables", "bootstrap") in found, found
    assert ("terraform_documented_outputs", "envs/staging/addons") in found, found


# ---------------------------------------------------------------------------
# trivy config (embedded checks, --skip-check-update: no download)
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def trivy() -> str:
    return go_tool(*TRIVY)


def run_trivy(trivy: str, tree: Path, cache: Path) -> list[dict[str, Any]]:
    proc = subprocess.run(
        [trivy, "config", "--skip-check-update", "--cache-dir", str(cache), "--format", "json",
         "--quiet", "--exit-code", "0", str(tree)],
        capture_output=True, text=True, timeout=900, check=False,
        env={**os.environ, "TRIVY_DISABLE_VEX_NOTICE": "true", "TRIVY_NO_PROGRESS": "true"},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-4000:]
    return list(json.loads(proc.stdout).get("Results") or [])


@pytest.fixture(scope="module")
def trivy_results(trivy: str, tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    return run_trivy(trivy, TF, tmp_path_factory.mktemp("trivy-cache"))


def _failures(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {**m, "Target": r["Target"]}
        for r in results
        for m in r.get("Misconfigurations") or []
        if m.get("Status") == "FAIL"
    ]


def test_trivy_scanned_every_configuration(trivy_results: list[dict[str, Any]]) -> None:
    """trivy evaluates the modules through the roots that call them (results per root)."""
    scanned = {r["Target"] for r in trivy_results if r.get("Class") == "config"}
    assert {r.get("Type") for r in trivy_results} == {"terraform"}
    successes = sum((r.get("MisconfSummary") or {}).get("Successes", 0) for r in trivy_results)
    assert successes >= 300, f"trivy passed only {successes} checks: {sorted(scanned)}"
    for env in ("dev", "staging", "prod"):
        for root in (f"envs/{env}", f"envs/{env}/addons"):
            assert root in scanned, (root, sorted(scanned))
    assert "bootstrap" in scanned, sorted(scanned)


def test_trivy_reports_no_misconfiguration(trivy_results: list[dict[str, Any]]) -> None:
    failures = _failures(trivy_results)
    assert not failures, "\n".join(
        f"{f['ID']} {f['Severity']} {f['Target']}:{(f.get('CauseMetadata') or {}).get('StartLine')}"
        f" {f['Title']} — {f.get('Message', '')}"
        for f in failures
    )


def test_trivy_ignores_are_inline_with_reason() -> None:
    for path in sorted(TF.rglob("*.tf")):
        for line in path.read_text().splitlines():
            if "trivy:ignore" in line:
                match = re.search(r"#\s*trivy:ignore:(AVD-[A-Z0-9-]+)\s+(.*)$", line)
                reason = match.group(2).strip() if match else ""
                assert len(reason) >= 20, (
                    f"{path.relative_to(ROOT)}: trivy ignore without a reason: {line.strip()}"
                )


def test_trivy_catches_a_seeded_misconfiguration(trivy: str, tmp_path: Path) -> None:
    """An unencrypted, publicly reachable database in a copy of the tree is reported."""
    tree = tmp_path / "terraform"
    shutil.copytree(TF, tree, ignore=shutil.ignore_patterns(".terraform"))
    main = tree / "modules" / "database" / "main.tf"
    text = main.read_text()
    text = text.replace("storage_encrypted     = true", "storage_encrypted     = false")
    text = text.replace("publicly_accessible    = false", "publicly_accessible    = true")
    assert "storage_encrypted     = false" in text
    assert "publicly_accessible    = true" in text
    main.write_text(text)
    failures = _failures(run_trivy(trivy, tree, tmp_path / "cache"))
    ids = {f.get("AVDID") or f["ID"] for f in failures if "modules/database" in f["Target"]}
    assert {"AWS-0080", "AWS-0180"} <= {i.removeprefix("AVD-") for i in ids}, ids
