"""Compose files as `docker compose` sees them: loaded, interpolated and merged by compose-go.

tests/support/compose_config is a tiny Go main around compose-go's loader (the library `docker
compose` is built on; pinned in its go.mod, downloaded from the Go module proxy). It is built
once per machine into the shared tool cache, keyed by the compose-go version and a hash of the
program, under the same build lock as scripts/go-tool.sh, and prints the project model as JSON
(what `docker compose config --format json` prints).
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from tests.support.tools import unavailable

SOURCE = Path(__file__).resolve().parent / "compose_config"
TOOL_CACHE = Path(
    os.environ.get("SHIPSHAPE_TOOL_CACHE")
    or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "shipshape/tools"
)


def compose_go_version() -> str:
    match = re.search(
        r"^require github\.com/compose-spec/compose-go/v2 (v\S+)$",
        (SOURCE / "go.mod").read_text(),
        re.M,
    )
    assert match, "tests/support/compose_config/go.mod must require compose-go/v2"
    return match.group(1)


@functools.cache
def binary() -> Path:
    digest = hashlib.sha256()
    for name in ("go.mod", "go.sum", "main.go"):
        digest.update((SOURCE / name).read_bytes())
    dest = TOOL_CACHE / f"compose-config-{compose_go_version()}-{digest.hexdigest()[:12]}"
    target = dest / "compose-config"
    if target.is_file():
        return target
    go = shutil.which("go")
    if go is None:
        unavailable("go not found (compose-go is built from the Go module proxy)")
    TOOL_CACHE.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=TOOL_CACHE, prefix=".build.compose-config."))
    try:
        result = subprocess.run(
            ["flock", str(TOOL_CACHE / ".build.lock"), str(go), "build", "-trimpath",
             "-mod=readonly", "-o", str(tmp / "compose-config"), "."],
            capture_output=True,
            text=True,
            timeout=900,
            cwd=SOURCE,
            env={**os.environ, "GOTOOLCHAIN": "local", "GOFLAGS": ""},
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        if not target.is_file():
            shutil.rmtree(dest, ignore_errors=True)
            tmp.rename(dest)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def run(*files: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """compose-config over the files, with only `env` (plus PATH/HOME) for interpolation."""
    base = {k: os.environ[k] for k in ("PATH", "HOME") if k in os.environ}
    return subprocess.run(
        [str(binary()), *map(str, files)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**base, **(env or {})},
    )


def load(*files: Path, env: dict[str, str] | None = None) -> dict[str, Any]:
    result = run(*files, env=env)
    assert result.returncode == 0, result.stderr
    model = json.loads(result.stdout)
    assert isinstance(model, dict)
    return model
