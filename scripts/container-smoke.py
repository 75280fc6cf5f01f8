#!/usr/bin/env python3
"""Container smoke test: build the image with podman and run it the way production does.

1. builds the image from the repository's Dockerfile (podman, `--pull=never`; the base image is
   built locally with scripts/build-base-image.sh unless --base-image is given) and records the
   build time and the image size;
2. checks the image metadata (non-root numeric USER, exec-form ENTRYPOINT, STOPSIGNAL,
   HEALTHCHECK, OCI labels);
3. starts a throwaway PostgreSQL on the host loopback, runs `shipshape migrate` in a container;
4. runs the app container with --read-only --cap-drop=ALL --security-opt=no-new-privileges as
   its non-root user (host network, free port), checks /readyz, GET /, /list, the HEALTHCHECK
   command, that the process UID is not 0 and has no capabilities, that the root filesystem
   is read-only;
5. sends SIGTERM and asserts exit code 0 within 10 s.

Prints a JSON report on stdout (and writes it to --report). Exit status 0 on success.
Standard library only. Needs podman, the PostgreSQL 15 binaries and root for podman (rootful) and
debootstrap: run as root, or as a user with passwordless sudo (GitHub's hosted runners), and
podman and the base image build go through `sudo -n`. Usage:

    scripts/container-smoke.py                      # full smoke test
    scripts/container-smoke.py --build-only         # just build the image (make image)
    scripts/container-smoke.py --base-image docker.io/library/python:3.11-slim-bookworm --pull
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import tomllib
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
DEFAULT_IMAGE = "localhost/shipshape:dev"  # compose.yaml's default SHIPSHAPE_IMAGE
LOCAL_BASE = "localhost/shipshape-base:py3.11-bookworm"
CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
APP_UID = 10001
STOP_BUDGET_SECONDS = 10.0
# What scripts/build-base-image.sh reads, passed through sudo.
SUDO_KEEP_ENV = ("BASE_IMAGE_NAME", "DEBIAN_MIRROR", "DEBIAN_SUITE", "FORCE", "SKIP_UPGRADE")


class SmokeFailure(AssertionError):
    pass


def log(message: str) -> None:
    print(f"[container-smoke] {message}", file=sys.stderr, flush=True)


def check(condition: bool, message: str) -> None:
    if not condition:
        raise SmokeFailure(message)


def podman_env() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("CONTAINERS_CONF", str(REPO / "deploy/containers/containers.conf"))
    return env


def as_root(*command: str) -> list[str]:
    """The command as root: directly when we are root, else through passwordless sudo (sudo
    resets the environment, so the podman configuration is passed explicitly)."""
    if os.geteuid() == 0:
        return list(command)
    keep = ["CONTAINERS_CONF", *SUDO_KEEP_ENV]
    env = [f"{name}={os.environ[name]}" for name in keep if os.environ.get(name)]
    if "CONTAINERS_CONF" not in os.environ:
        env.append(f"CONTAINERS_CONF={podman_env()['CONTAINERS_CONF']}")
    return ["sudo", "-n", "env", *env, *command]


def podman(*args: str, check_rc: bool = True, timeout: float = 120) -> subprocess.CompletedProcess:
    result = subprocess.run(
        as_root("podman", *args),
        capture_output=True,
        text=True,
        env=podman_env(),
        timeout=timeout,
        check=False,
    )
    if check_rc and result.returncode != 0:
        raise SmokeFailure(
            f"podman {' '.join(args[:3])}... exited {result.returncode}:\n"
            f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
        )
    return result


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def git_revision() -> str:
    result = subprocess.run(
        ["git", "-C", str(REPO), "rev-parse", "--verify", "-q", "HEAD"],
        capture_output=True,
        text=True,
        check=False,
    )
    return result.stdout.strip() if result.returncode == 0 and result.stdout.strip() else "unknown"


def project_version() -> str:
    with open(REPO / "pyproject.toml", "rb") as fh:
        return str(tomllib.load(fh)["project"]["version"])


# ----------------------------------------------------------------------------- build


def ensure_base_image() -> str:
    log("ensuring the local base image (scripts/build-base-image.sh, cached)")
    result = subprocess.run(
        as_root("bash", str(REPO / "scripts/build-base-image.sh")),
        capture_output=True,
        text=True,
        env=podman_env(),
        timeout=900,
        check=False,
    )
    if result.returncode != 0:
        raise SmokeFailure(f"base image build failed:\n{result.stderr[-4000:]}")
    return result.stdout.strip().splitlines()[-1]


def build_version() -> str:
    """The release version the smoke image is built for: deliberately not the package version,
    so the check that GET /version reports the build's VERSION cannot pass by accident."""
    return os.environ.get("SHIPSHAPE_BUILD_VERSION") or f"{project_version()}-smoke"


def build_image(image: str, base_image: str, *, pull: bool, no_cache: bool) -> float:
    build_date = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    args = [
        "build",
        "--format=docker",  # the OCI format has no HEALTHCHECK
        f"--pull={'newer' if pull else 'never'}",
        f"--build-arg=BASE_IMAGE={base_image}",
        f"--build-arg=VERSION={build_version()}",
        f"--build-arg=VCS_REF={git_revision()}",
        f"--build-arg=BUILD_DATE={build_date}",
        "--build-arg=SOURCE=https://github.com/shipshape/shipshape",
        f"--tag={image}",
        f"--file={REPO / 'Dockerfile'}",
    ]
    # Outbound HTTPS goes through a TLS-intercepting proxy on some CI machines: trust the
    # host's CA bundle inside the build (build stage only; nothing is written into layers).
    if CA_BUNDLE.is_file():
        args.append(f"--volume={CA_BUNDLE}:{CA_BUNDLE}:ro")
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy"):
        if os.environ.get(name):
            args.append(f"--build-arg={name}={os.environ[name]}")
    if no_cache:
        args.append("--no-cache")
    args.append(str(REPO))
    log(f"building {image} on {base_image}")
    start = time.monotonic()
    podman(*args, timeout=1800)
    return time.monotonic() - start


def inspect_image(image: str) -> dict[str, Any]:
    info = json.loads(podman("image", "inspect", image).stdout)[0]
    config = info.get("Config") or {}
    labels = config.get("Labels") or {}
    user = str(config.get("User", ""))
    check(user.split(":")[0].isdigit(), f"USER must be numeric (got {user!r})")
    check(int(user.split(":")[0]) == APP_UID, f"USER must be {APP_UID} (got {user!r})")
    check(config.get("Entrypoint") == ["shipshape"], f"ENTRYPOINT: {config.get('Entrypoint')}")
    check(config.get("Cmd") == ["serve"], f"CMD: {config.get('Cmd')}")
    check(config.get("StopSignal") == "SIGTERM", f"STOPSIGNAL: {config.get('StopSignal')}")
    check("8000/tcp" in (config.get("ExposedPorts") or {}), "EXPOSE 8000 missing")
    health = info.get("Healthcheck") or config.get("Healthcheck") or {}
    check(
        health.get("Test") == ["CMD", "shipshape", "healthcheck"], f"HEALTHCHECK missing: {health}"
    )
    for key in ("version", "revision", "created", "source"):
        check(f"org.opencontainers.image.{key}" in labels, f"label {key} missing")
    env = dict(item.split("=", 1) for item in config.get("Env") or [])
    check(env.get("SHIPSHAPE_HOST") == "0.0.0.0", "SHIPSHAPE_HOST must be 0.0.0.0")
    check(env.get("SHIPSHAPE_GIT_COMMIT") == labels["org.opencontainers.image.revision"], "commit")
    return {"size": int(info["Size"]), "labels": labels, "user": user}


# ----------------------------------------------------------------------------- database


@contextlib.contextmanager
def postgres() -> Iterator[Any]:
    """The lead's tests/support/databases.py when present (it is in the repository)."""
    sys.path.insert(0, str(REPO))
    try:
        from tests.support.databases import start_postgres
    finally:
        sys.path.pop(0)
    with start_postgres() as server:
        yield server


# ----------------------------------------------------------------------------- run


def http_get(url: str, *, accept: str = "application/json", timeout: float = 5) -> tuple:
    request = urllib.request.Request(url, headers={"Accept": accept, "User-Agent": "smoke/1"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read().decode(), dict(response.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(errors="replace"), dict(exc.headers)


def wait_ready(base_url: str, container: str, timeout: float = 60) -> float:
    start = time.monotonic()
    last: Any = None
    while time.monotonic() - start < timeout:
        state = podman("inspect", "--format", "{{.State.Status}}", container).stdout.strip()
        if state not in ("running", "created", "configured"):
            raise SmokeFailure(f"app container is {state}:\n{container_logs(container)}")
        try:
            status, body, _ = http_get(f"{base_url}/readyz", timeout=2)
            if status == 200:
                return time.monotonic() - start
            last = (status, body[:500])
        except OSError as exc:
            last = exc
        time.sleep(0.25)
    raise SmokeFailure(f"/readyz not 200 after {timeout}s: {last}\n{container_logs(container)}")


def container_logs(container: str) -> str:
    result = podman("logs", "--tail", "60", container, check_rc=False)
    return (result.stdout + result.stderr)[-6000:]


def proc_status(pid: int) -> dict[str, str]:
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        fields[key] = value.strip()
    return fields


def hardening_args(secrets_dir: Path) -> list[str]:
    return [
        "--network=host",  # the throwaway database listens on the host loopback
        "--read-only",
        "--read-only-tmpfs=false",
        "--tmpfs=/tmp:rw,nosuid,nodev,size=64m,mode=1777",
        "--cap-drop=ALL",
        "--security-opt=no-new-privileges",
        f"--user={APP_UID}:{APP_UID}",
        f"--volume={secrets_dir}:/run/secrets:ro",
    ]


def run_smoke(image: str, report: dict[str, Any]) -> None:
    suffix = secrets.token_hex(4)
    with contextlib.ExitStack() as stack:
        server = stack.enter_context(postgres())
        log(f"PostgreSQL on 127.0.0.1:{server.port}")
        # The password reaches the containers as a secret file, like Compose/Kubernetes do.
        secrets_dir = Path(tempfile.mkdtemp(prefix="shipshape-smoke-secrets-"))
        stack.callback(shutil.rmtree, secrets_dir, ignore_errors=True)
        os.chmod(secrets_dir, 0o755)
        (secrets_dir / "db_password").write_text(server.password)
        os.chmod(secrets_dir / "db_password", 0o644)
        db_env = [
            f"--env=DATABASE_URL=postgresql://{server.user}@127.0.0.1:{server.port}/"
            f"{server.database}",
            "--env=SHIPSHAPE_DATABASE_PASSWORD_FILE=/run/secrets/db_password",
            "--env=SHIPSHAPE_LOG_FORMAT=json",
        ]

        log("running `shipshape migrate` in a container")
        migrate = podman(
            "run",
            "--rm",
            f"--name=shipshape-smoke-migrate-{suffix}",
            *hardening_args(secrets_dir),
            *db_env,
            image,
            "migrate",
            check_rc=False,
            timeout=180,
        )
        check(
            migrate.returncode == 0,
            f"migrate exited {migrate.returncode}:\n{migrate.stdout}\n{migrate.stderr}",
        )

        port = free_port()
        name = f"shipshape-smoke-app-{suffix}"
        stack.callback(podman, "rm", "--force", "--time=0", name, check_rc=False)
        podman(
            "run",
            "--detach",
            f"--name={name}",
            *hardening_args(secrets_dir),
            *db_env,
            # Host network: bind the loopback only, on a free port.
            "--env=SHIPSHAPE_HOST=127.0.0.1",
            f"--env=SHIPSHAPE_PORT={port}",
            "--env=SHIPSHAPE_DRAIN_SECONDS=1",
            "--env=SHIPSHAPE_SHUTDOWN_TIMEOUT_SECONDS=5",
            # No systemd here to drive podman's health timer; the check is run by hand below.
            "--health-interval=disable",
            image,
        )
        base_url = f"http://127.0.0.1:{port}"
        report["ready_seconds"] = round(wait_ready(base_url, name), 2)
        log(f"ready after {report['ready_seconds']} s")

        status, body, _ = http_get(f"{base_url}/")
        check(status == 200, f"GET / -> {status}: {body[:500]}")
        greeting = json.loads(body)
        check("message" in greeting and "version" in greeting, f"GET / body: {greeting}")
        # The version the image was built for (build arg VERSION), what the release gate checks.
        status, body, _ = http_get(f"{base_url}/version")
        check(status == 200, f"GET /version -> {status}: {body[:500]}")
        report["served_version"] = json.loads(body).get("version")
        report["image_version_label"] = inspect_image(image)["labels"].get(
            "org.opencontainers.image.version"
        )
        status, body, _ = http_get(f"{base_url}/list")
        check(status == 200, f"GET /list -> {status}: {body[:500]}")
        visits = json.loads(body)
        check(isinstance(visits, list) and len(visits) >= 1, f"/list: {body[:500]}")
        status, body, _ = http_get(f"{base_url}/livez")
        check(status == 200, f"/livez -> {status}")

        # The image's HEALTHCHECK command, run the way the engine runs it.
        health = podman("healthcheck", "run", name, check_rc=False)
        check(health.returncode == 0, f"HEALTHCHECK failed: {health.stdout}{health.stderr}")

        # Who is the process? Host view through /proc (the image needs no `id`), and podman's.
        pid = int(podman("inspect", "--format", "{{.State.Pid}}", name).stdout.strip())
        status_fields = proc_status(pid)
        uids = [int(u) for u in status_fields["Uid"].split()]
        gids = [int(g) for g in status_fields["Gid"].split()]
        check(all(u == APP_UID for u in uids), f"process UIDs {uids}, expected {APP_UID}")
        check(all(g != 0 for g in gids), f"process GIDs {gids}")
        check(int(status_fields["CapEff"], 16) == 0, f"CapEff {status_fields['CapEff']}")
        check(status_fields.get("NoNewPrivs") == "1", "no-new-privileges not set")
        top = podman("top", name, "user", "huser", "args").stdout
        report["process"] = {"uids": uids, "gids": gids, "podman_top": top.strip().splitlines()}

        # Read-only root filesystem: nothing but /tmp is writable.
        probe = podman(
            "exec",
            name,
            "python3",
            "-c",
            "import pathlib,sys\n"
            "pathlib.Path('/tmp/probe').write_text('ok')\n"
            "for p in ('/probe', '/opt/venv/probe'):\n"
            "    try:\n"
            "        pathlib.Path(p).write_text('x')\n"
            "    except OSError:\n"
            "        continue\n"
            "    sys.exit(f'{p} is writable')\n",
            check_rc=False,
        )
        check(probe.returncode == 0, f"filesystem probe: {probe.stdout}{probe.stderr}")

        log("SIGTERM")
        start = time.monotonic()
        podman("kill", "--signal=TERM", name)
        # Draining: not ready any more, but still serving (SHIPSHAPE_DRAIN_SECONDS=1).
        drained = None
        while drained is None and time.monotonic() - start < 1.0:
            with contextlib.suppress(OSError):
                ready_status = http_get(f"{base_url}/readyz", timeout=1)[0]
                if ready_status == 503:
                    drained = http_get(f"{base_url}/livez", timeout=1)[0]
            time.sleep(0.05)
        report["draining_livez_status"] = drained
        check(drained == 200, f"no drain window: /readyz 503 + /livez 200 not seen ({drained})")
        try:
            waited = podman("wait", name, timeout=STOP_BUDGET_SECONDS + 5)
        except subprocess.TimeoutExpired:
            raise SmokeFailure(
                f"still running {STOP_BUDGET_SECONDS + 5} s after SIGTERM:\n{container_logs(name)}"
            ) from None
        stop_seconds = time.monotonic() - start
        exit_code = int(waited.stdout.strip().splitlines()[-1])
        report["stop_seconds"] = round(stop_seconds, 2)
        report["exit_code"] = exit_code
        logs = container_logs(name)
        report["app_log_tail"] = logs.strip().splitlines()[-6:]
        check(exit_code == 0, f"exit code {exit_code} after SIGTERM:\n{logs}")
        check(stop_seconds < STOP_BUDGET_SECONDS, f"took {stop_seconds:.1f} s to stop:\n{logs}")
        log(f"exited {exit_code} after {stop_seconds:.2f} s")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--image", default=os.environ.get("SHIPSHAPE_IMAGE", DEFAULT_IMAGE))
    parser.add_argument(
        "--base-image",
        default=os.environ.get("BASE_IMAGE"),
        help=f"base image (default: build {LOCAL_BASE} offline with scripts/build-base-image.sh)",
    )
    parser.add_argument("--pull", action="store_true", help="let podman pull the base image")
    parser.add_argument("--no-cache", action="store_true", help="build without layer cache")
    parser.add_argument("--build-only", action="store_true", help="build and inspect, no run")
    parser.add_argument("--skip-build", action="store_true", help="use an existing --image")
    parser.add_argument(
        "--max-image-mb",
        type=float,
        default=float(os.environ.get("SHIPSHAPE_MAX_IMAGE_MB", "200")),
        help="fail when the image is larger (default 200)",
    )
    parser.add_argument("--report", type=Path, help="also write the JSON report here")
    args = parser.parse_args(argv)

    if shutil.which("podman") is None:
        log("podman not found (apt-get install -y podman buildah uidmap)")
        return 2
    if os.geteuid() != 0 and subprocess.run(["sudo", "-n", "true"], check=False).returncode != 0:
        log("rootful podman and debootstrap need root or passwordless sudo")
        return 2
    conf = Path(podman_env()["CONTAINERS_CONF"])
    if conf.is_file() and 'runtime = "runc"' in conf.read_text() and not shutil.which("runc"):
        log(f"{conf} selects runc, which is not installed (apt-get install -y runc)")
        return 2
    report: dict[str, Any] = {"image": args.image}
    total_start = time.monotonic()
    try:
        if not args.skip_build:
            base_image = args.base_image or ensure_base_image()
            report["base_image"] = base_image
            report["build_version"] = build_version()
            report["build_seconds"] = round(
                build_image(args.image, base_image, pull=args.pull, no_cache=args.no_cache), 1
            )
            log(f"built in {report['build_seconds']} s")
        meta = inspect_image(args.image)
        report["image_size_bytes"] = meta["size"]
        report["image_size_mb"] = round(meta["size"] / 1_000_000, 1)
        log(f"image size {report['image_size_mb']} MB")
        check(
            report["image_size_mb"] <= args.max_image_mb,
            f"image is {report['image_size_mb']} MB, budget {args.max_image_mb} MB",
        )
        if not args.build_only:
            run_smoke(args.image, report)
        report["result"] = "passed"
        status = 0
    except (SmokeFailure, subprocess.TimeoutExpired) as exc:
        report["result"] = "failed"
        report["error"] = str(exc)
        log(f"FAILED: {exc}")
        status = 1
    report["total_seconds"] = round(time.monotonic() - total_start, 1)
    text = json.dumps(report, indent=2)
    print(text)
    if args.report:
        args.report.parent.mkdir(parents=True, exist_ok=True)
        args.report.write_text(text + "\n")
    return status


if __name__ == "__main__":
    sys.exit(main())
