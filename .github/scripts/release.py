#!/usr/bin/env python3
"""Release helpers for .github/workflows/release.yml (standard library only).

    release.py meta  --event push --ref-name v1.2.3
    release.py meta  --event workflow_dispatch --version 1.2.3 --environment prod
        Validates the version and prints `version=...`, `environments=...` (space separated),
        `tag=v...` and `previous=...` (the environment a promotion takes its digest from)
        lines; with --github-output FILE (release.yml passes $GITHUB_OUTPUT) they are appended
        to that file as step outputs.

    release.py gate --environment staging --version 1.2.3 --url https://shipshape.dev.example.com
        Promotion gate: the environment before the target (staging <- dev, prod <- staging) runs
        in its own cluster, so "promote only after the previous environment is healthy" cannot be
        a Flux dependsOn or an Argo CD sync wave. Instead the release workflow checks, before it
        opens the bump pull request, that the previous environment's public URL serves exactly
        this version (GET /version) and is ready (GET /readyz returns 200). Retries a few times.

    release.py bump --version 1.2.3 --env dev --digest sha256:... --chart-dir DIR [--root DIR]
    release.py bump --version 1.2.3 --env staging --from dev --chart-dir DIR
        Promotes a release to environments in the GitOps manifests: the chart version and image
        tag (lines marked `# gitops:version:<env>`), the image digest (`# gitops:digest:<env>`)
        and the environment's values (DIR/values-<env>.yaml of the chart at that release, copied
        to deploy/gitops/flux/environments/<env>/values.yaml; Argo CD reads the same file from
        the chart package). The digest is the one the image workflow scanned, pushed and signed
        (--digest), or, for a promotion, the digest the previous environment runs (--from; its
        version must be the one promoted). Only the quoted values change, comments and layout
        stay. Fails when an environment lacks a marker in the Argo CD or in the Flux manifests.

Exercised by tests/deploy/test_gitops_release.py.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

SEMVER = re.compile(
    r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?$"
)
ENVIRONMENTS = ("dev", "staging", "prod")
# What a version tag deploys on its own; staging and prod are promoted explicitly
# (workflow_dispatch), each only once the environment before it serves the version (gate).
TAG_ENVIRONMENTS = ("dev",)
PREVIOUS = {"staging": "dev", "prod": "staging"}
GITOPS_DIRS = ("deploy/gitops/argocd", "deploy/gitops/flux")
# The values of an environment, promoted with its chart version (Flux reads them as a ConfigMap).
FLUX_VALUES = "deploy/gitops/flux/environments/{env}/values.yaml"
# Where each environment pins what it runs: the chart version (Argo CD targetRevision, Flux
# OCIRepository tag) with the image tag, and the image digest, in both engines.
PINS = {
    "gitops:version": (
        "deploy/gitops/argocd/{env}/application.yaml",
        "deploy/gitops/flux/environments/{env}/ocirepository.yaml",
        "deploy/gitops/flux/environments/{env}/helmrelease.yaml",
    ),
    "gitops:digest": (
        "deploy/gitops/argocd/{env}/application.yaml",
        "deploy/gitops/flux/environments/{env}/helmrelease.yaml",
    ),
}
DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
LINE = re.compile(
    r"^(?P<head>\s*(?:-\s+)?[A-Za-z_][\w.-]*:\s*)"
    r"(?P<quote>[\"'])(?P<value>[^\"']*)(?P=quote)"
    r"(?P<tail>\s*#\s*(?P<marker>gitops:(?:version|digest)):(?P<env>[a-z0-9-]+)\s*)$"
)
ANY_MARKER = re.compile(r"#\s*gitops:(?:version|digest|image-tag):")


class ReleaseError(Exception):
    pass


def check_version(version: str) -> str:
    if not SEMVER.match(version):
        raise ReleaseError(f"not a semantic version (X.Y.Z[-pre]): {version!r}")
    return version


def meta(
    event: str, ref_name: str | None, version: str | None, environment: str | None
) -> dict[str, str]:
    if event == "push":
        if not ref_name or not ref_name.startswith("v"):
            raise ReleaseError(f"a release runs on a tag vX.Y.Z, not {ref_name!r}")
        resolved = check_version(ref_name[1:])
        environments = list(TAG_ENVIRONMENTS)
    elif event == "workflow_dispatch":
        resolved = check_version((version or "").removeprefix("v"))
        if environment not in ENVIRONMENTS:
            raise ReleaseError(f"unknown environment {environment!r}; one of {ENVIRONMENTS}")
        environments = [environment]
    else:
        raise ReleaseError(f"unsupported event {event!r}")
    # The environment a promotion takes its image digest from ("" for a new release).
    previous = PREVIOUS.get(environments[0], "") if event == "workflow_dispatch" else ""
    return {
        "version": resolved,
        "tag": f"v{resolved}",
        "environments": " ".join(environments),
        "previous": previous,
    }


def _get(url: str, timeout: float) -> tuple[int, bytes]:
    if not url.startswith(("https://", "http://")):
        raise ReleaseError(f"not an http(s) URL: {url!r}")
    request = urllib.request.Request(url, headers={"Accept": "application/json"})  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            return response.status, response.read(65536)
    except urllib.error.HTTPError as exc:
        return exc.code, b""
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        return 0, str(exc).encode()


def gate(
    environment: str,
    version: str,
    url: str,
    *,
    attempts: int = 5,
    interval: float = 30.0,
    timeout: float = 10.0,
) -> str:
    """Return a description of the passed gate; raise ReleaseError when it does not pass."""
    check_version(version)
    if environment not in ENVIRONMENTS:
        raise ReleaseError(f"unknown environment {environment!r}; one of {ENVIRONMENTS}")
    previous = PREVIOUS.get(environment)
    if previous is None:
        return f"{environment} has no previous environment: nothing to check"
    if not url:
        raise ReleaseError(
            f"no URL for {previous}: set the repository variable SHIPSHAPE_{previous.upper()}_URL"
        )
    base = url.rstrip("/")
    problem = ""
    for attempt in range(1, max(attempts, 1) + 1):
        status, body = _get(f"{base}/version", timeout)
        served = None
        if status == 200:
            try:
                served = json.loads(body).get("version")
            except (ValueError, AttributeError):
                served = None
        ready, _ = _get(f"{base}/readyz", timeout)
        if served == version and ready == 200:
            return f"{previous} ({base}) serves {version} and is ready"
        problem = (
            f"{previous} ({base}): /version -> {status} version={served!r} (want {version!r}), "
            f"/readyz -> {ready}"
        )
        print(f"attempt {attempt}/{attempts}: {problem}", file=sys.stderr)
        if attempt < attempts:
            time.sleep(interval)
    raise ReleaseError(f"promotion to {environment} refused: {problem}")


def gitops_files(root: Path) -> list[Path]:
    files: list[Path] = []
    for rel in GITOPS_DIRS:
        base = root / rel
        if base.is_dir():
            files.extend(sorted(p for p in base.rglob("*") if p.suffix in (".yaml", ".yml")))
    return files


def pinned(root: Path) -> dict[tuple[str, str], set[str]]:
    """{(marker, env): {values}} of every marked line under the GitOps directories."""
    found: dict[tuple[str, str], set[str]] = {}
    for path in gitops_files(root):
        for line in path.read_text(encoding="utf-8").splitlines():
            match = LINE.match(line)
            if match:
                found.setdefault((match["marker"], match["env"]), set()).add(match["value"])
    return found


def _digest_of(root: Path, environment: str, version: str) -> str:
    """The image digest the environment runs; it must run `version`."""
    found = pinned(root)
    versions = found.get(("gitops:version", environment), set())
    digests = found.get(("gitops:digest", environment), set())
    if versions != {version}:
        raise ReleaseError(
            f"{environment} runs {sorted(versions)}, not {version}: promote what was tested there"
        )
    if len(digests) != 1 or not DIGEST.match(next(iter(digests))):
        raise ReleaseError(f"{environment} pins no single image digest: {sorted(digests)}")
    return next(iter(digests))


def bump(
    root: Path,
    version: str,
    environments: list[str],
    *,
    digest: str | None = None,
    from_env: str | None = None,
    chart_dir: Path | None = None,
) -> dict[str, list[str]]:
    """Rewrite the marked lines and the values copies; return {env: [changed file, ...]}."""
    check_version(version)
    unknown = sorted(set(environments) - set(ENVIRONMENTS))
    if unknown:
        raise ReleaseError(f"unknown environment(s) {unknown}; known: {list(ENVIRONMENTS)}")
    if (digest is None) == (from_env is None):
        raise ReleaseError("give exactly one of --digest (a new release) and --from ENV")
    if from_env is not None:
        if from_env not in ENVIRONMENTS:
            raise ReleaseError(f"unknown environment {from_env!r}; one of {ENVIRONMENTS}")
        digest = _digest_of(root, from_env, version)
    assert digest is not None
    if not DIGEST.match(digest):
        raise ReleaseError(f"not an image digest (sha256:<64 hex>): {digest!r}")
    if chart_dir is None or not (chart_dir / "Chart.yaml").is_file():
        raise ReleaseError(
            f"--chart-dir must be the chart of the release (no Chart.yaml in {chart_dir})"
        )
    new_value = {"gitops:version": version, "gitops:digest": digest}
    seen: dict[str, set[tuple[str, str]]] = {env: set() for env in environments}
    changed: dict[str, list[str]] = {env: [] for env in environments}
    updates: dict[Path, str] = {}
    for path in gitops_files(root):
        text = path.read_text(encoding="utf-8")
        rel = str(path.relative_to(root))
        out: list[str] = []
        dirty = False
        for line in text.splitlines(keepends=True):
            body = line.rstrip("\r\n")
            newline = line[len(body) :]
            match = LINE.match(body)
            if match and match["env"] in seen:
                env, marker = match["env"], match["marker"]
                seen[env].add((marker, rel))
                value = new_value[marker]
                if match["value"] != value:
                    body = f"{match['head']}{match['quote']}{value}{match['quote']}{match['tail']}"
                    dirty = True
                    if rel not in changed[env]:
                        changed[env].append(rel)
            elif match is None and ANY_MARKER.search(body) and not body.lstrip().startswith("#"):
                raise ReleaseError(f"{path}: malformed gitops marker line: {body.strip()!r}")
            out.append(body + newline)
        if dirty:
            updates[path] = "".join(out)
    for env, marks in seen.items():
        missing = [
            (m, f.format(env=env)) for m, files in PINS.items() for f in files
            if (m, f.format(env=env)) not in marks
        ]  # fmt: skip
        if missing:
            raise ReleaseError(
                f"{env}: no line marked "
                + ", ".join(f"`# {m}:{env}` under {d}" for m, d in missing)
            )
    for env in environments:
        source = chart_dir / f"values-{env}.yaml"
        if not source.is_file():
            raise ReleaseError(f"the chart of {version} has no values-{env}.yaml")
        target = root / FLUX_VALUES.format(env=env)
        if not target.is_file() or target.read_bytes() != source.read_bytes():
            updates[target] = source.read_text(encoding="utf-8")
            changed[env].append(str(target.relative_to(root)))
    for path, text in updates.items():
        path.write_text(text, encoding="utf-8")
    return changed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)
    p_meta = sub.add_parser("meta", help="resolve the version and environments of a release run")
    p_meta.add_argument("--event", required=True)
    p_meta.add_argument("--ref-name")
    p_meta.add_argument("--version")
    p_meta.add_argument("--environment")
    p_meta.add_argument("--github-output", type=Path)
    p_gate = sub.add_parser("gate", help="check that the previous environment serves the version")
    p_gate.add_argument("--environment", required=True)
    p_gate.add_argument("--version", required=True)
    p_gate.add_argument("--url", default="")
    p_gate.add_argument("--attempts", type=int, default=5)
    p_gate.add_argument("--interval", type=float, default=30.0)
    p_bump = sub.add_parser(
        "bump", help="promote a release (chart, image digest, values) to environments"
    )
    p_bump.add_argument("--version", required=True)
    p_bump.add_argument("--env", action="append", required=True, dest="envs")
    p_bump.add_argument("--digest", help="image digest of a new release (sha256:...)")
    p_bump.add_argument("--from", dest="from_env", help="promote the digest this env runs")
    p_bump.add_argument("--chart-dir", type=Path, required=True, help="the chart of the release")
    p_bump.add_argument("--root", type=Path, default=Path(__file__).resolve().parents[2])
    args = parser.parse_args(argv)
    try:
        if args.command == "meta":
            result = meta(args.event, args.ref_name, args.version, args.environment)
            lines = "".join(f"{k}={v}\n" for k, v in result.items())
            sys.stdout.write(lines)
            if args.github_output:
                with args.github_output.open("a", encoding="utf-8") as fh:
                    fh.write(lines)
        elif args.command == "gate":
            print(
                gate(
                    args.environment,
                    args.version.removeprefix("v"),
                    args.url,
                    attempts=args.attempts,
                    interval=args.interval,
                )
            )
        else:
            envs = [e for item in args.envs for e in item.split()]
            changed = bump(
                args.root,
                args.version,
                envs,
                # The workflow passes both; the one that does not apply is empty.
                digest=args.digest or None,
                from_env=args.from_env or None,
                chart_dir=args.chart_dir,
            )
            for env, files in changed.items():
                state = ", ".join(files) if files else "already at this version"
                print(f"{env}: {args.version} ({state})")
    except ReleaseError as exc:
        print(f"release.py: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
