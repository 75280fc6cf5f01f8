#!/usr/bin/env python3
"""Release helpers for .github/workflows/release.yml (standard library only).

    release.py meta  --event push --ref-name v1.2.3
    release.py meta  --event workflow_dispatch --version 1.2.3 --environment prod
        Validates the version and prints `version=...`, `environments=...` (space separated) and
        `tag=v...` lines; with --github-output FILE (release.yml passes $GITHUB_OUTPUT) they are
        appended to that file as step outputs.

    release.py bump --version 1.2.3 --env dev --env staging [--root DIR]
        Sets the image tag of each environment in the GitOps manifests. Every line that carries
        the marker `# gitops:image-tag:<env>` holds that environment's tag as `key: "X.Y.Z"`;
        only the quoted value changes, comments and layout stay as they are. Fails when an
        environment has no marker in the Argo CD or in the Flux manifests.

Exercised by tests/deploy/test_gitops_release.py.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

SEMVER = re.compile(
    r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?$"
)
ENVIRONMENTS = ("dev", "staging", "prod")
# What a version tag deploys on its own; prod is promoted explicitly (workflow_dispatch).
TAG_ENVIRONMENTS = ("dev", "staging")
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
