#!/usr/bin/env python3
"""Release helpers for .github/workflows/release.yml (standard library only).

    release.py meta  --event push --ref-name v1.2.3
    release.py meta  --event workflow_dispatch --version 1.2.3 --environment prod
        Validates the version and prints `version=...`, `environments=...` (space separated) and
        `tag=v...` lines; with --github-output FILE (release.yml passes $GITHUB_OUTPUT) they are
        appended to that file as step outputs.

    release.py gate --environment staging --version 1.2.3 --url https://shipshape.dev.example.com
        Promotion gate: the environment before the target (staging <- dev, prod <- staging) runs
        in its own cluster, so "promote only after the previous environment is healthy" cannot be
        a Flux dependsOn or an Argo CD sync wave. Instead the release workflow checks, before it
        opens the bump pull request, that the previous environment's public URL serves exactly
        this version (GET /version) and is ready (GET /readyz returns 200). Retries a few times.

    release.py bump --version 1.2.3 --env dev --env staging [--root DIR]
        Sets the image tag of each environment in the GitOps manifests. Every line that carries
        the marker `# gitops:image-tag:<env>` holds that environment's tag as `key: "X.Y.Z"`;
        only the quoted value changes, comments and layout stay as they are. Fails when an
        environment has no marker in the Argo CD or in the Flux manifests.

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
MARKER = "gitops:image-tag"
LINE = re.compile(
    r"^(?P<head>\s*(?:-\s+)?[A-Za-z_][\w.-]*:\s*)"
    r"(?P<quote>[\"'])(?P<value>[^\"']*)(?P=quote)"
    r"(?P<tail>\s*#\s*" + re.escape(MARKER) + r":(?P<env>[a-z0-9-]+)\s*)$"
)


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
    return {"version": resolved, "tag": f"v{resolved}", "environments": " ".join(environments)}


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


def bump(root: Path, version: str, environments: list[str]) -> dict[str, list[str]]:
    """Rewrite the marked tags; return {env: [changed file, ...]} (relative paths)."""
    check_version(version)
    unknown = sorted(set(environments) - set(ENVIRONMENTS))
    if unknown:
        raise ReleaseError(f"unknown environment(s) {unknown}; known: {list(ENVIRONMENTS)}")
    seen: dict[str, set[str]] = {env: set() for env in environments}
    changed: dict[str, list[str]] = {env: [] for env in environments}
    for path in gitops_files(root):
        text = path.read_text(encoding="utf-8")
        out: list[str] = []
        dirty = False
        for line in text.splitlines(keepends=True):
            body = line.rstrip("\r\n")
            newline = line[len(body) :]
            match = LINE.match(body)
            if match and match["env"] in seen:
                env = match["env"]
                seen[env].add(
                    next(d for d in GITOPS_DIRS if str(path.relative_to(root)).startswith(d))
                )
                if match["value"] != version:
                    body = (
                        f"{match['head']}{match['quote']}{version}{match['quote']}{match['tail']}"
                    )
                    dirty = True
                    changed[env].append(str(path.relative_to(root)))
            elif (
                match is None
                and re.search(r"#\s*" + re.escape(MARKER) + ":", body)
                and not body.lstrip().startswith("#")
            ):
                raise ReleaseError(f"{path}: malformed {MARKER} line: {body.strip()!r}")
            out.append(body + newline)
        if dirty:
            path.write_text("".join(out), encoding="utf-8")
    for env, dirs in seen.items():
        missing = [d for d in GITOPS_DIRS if d not in dirs]
        if missing:
            raise ReleaseError(f"no `# {MARKER}:{env}` line under {missing}")
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
        "bump", help="set the image tag of environments in the GitOps manifests"
    )
    p_bump.add_argument("--version", required=True)
    p_bump.add_argument("--env", action="append", required=True, dest="envs")
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
            changed = bump(args.root, args.version, envs)
            for env, files in changed.items():
                state = ", ".join(files) if files else "already at this version"
                print(f"{env}: {args.version} ({state})")
    except ReleaseError as exc:
        print(f"release.py: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
