"""Contract test between the chart and the app: the rendered production pod specs, run as local
processes against a throwaway PostgreSQL, the way Kubernetes would run them.

Order (as on a cluster): the pre-install hook objects (Secret copy), the migration Job, the app
container (startup, then liveness and readiness probes on the named port `http`, like the
kubelet), the prune CronJob's command, the `helm test` pod's command through the Service name and
port, and finally termination: the preStop step, SIGTERM, and exit 0 within
terminationGracePeriodSeconds while the pod keeps answering during its drain.

What differs from a cluster, on purpose: the process binds 127.0.0.1 on a free port instead of
0.0.0.0:8000 (the test asserts what the spec declares, then maps it), Service DNS names resolve to
that port, the database host is the throwaway server, and processes run as the current user (the
interpreter lives under /root here) with /work/main/.venv/bin first on PATH.
"""

from __future__ import annotations

import contextlib
import json
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import helm_python as helm
import pytest
import yaml

from tests.support.databases import ServerUnavailable, free_port, start_postgres
from tests.support.tools import unavailable

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "shipshape"
VENV_BIN = Path(sys.executable).parent
RELEASE, NAMESPACE = "shipshape", "prod"
ADMIN_TOKEN = "contract-test-operator-token"

pytestmark = pytest.mark.slow


def deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def render(values: dict[str, Any]) -> list[dict[str, Any]]:
    chart = helm.Chart.load(CHART)
    opts = {"name": RELEASE, "namespace": NAMESPACE, "kube_version": "v1.30.0", "is_install": True}
    rendered = json.loads(
        helm._native.call_string("helm_render", chart._raw(), json.dumps(values), json.dumps(opts))
    )
    objects = []
    for path, text in sorted(rendered.items()):
        if path.endswith(".yaml"):
            objects += [doc for doc in yaml.safe_load_all(text) if doc]
    return objects


class Kubelet:
    """Just enough of a kubelet to run a container of a rendered pod spec as a local process."""

    def __init__(self, objects: list[dict[str, Any]], workdir: Path) -> None:
        self.objects = objects
        self.workdir = workdir

    def get(self, kind: str, name: str) -> dict[str, Any]:
        found = [o for o in self.objects if o["kind"] == kind and o["metadata"]["name"] == name]
        assert len(found) == 1, f"{kind}/{name} is not rendered (pod would not start)"
        return found[0]

    def secret_data(self, name: str) -> dict[str, str]:
        secret = self.get("Secret", name)
        import base64

        return {k: base64.b64decode(v).decode() for k, v in (secret.get("data") or {}).items()}

    def volumes(self, pod: dict[str, Any], tag: str) -> dict[str, Path]:
        """Materialise the pod's volumes as local directories."""
        out: dict[str, Path] = {}
        for volume in pod.get("volumes", []):
            path = Path(tempfile.mkdtemp(prefix=f"{tag}-{volume['name']}-", dir=self.workdir))
            if "emptyDir" in volume:
                pass
            elif "projected" in volume:
                mode = volume["projected"].get("defaultMode", 0o644)
                for source in volume["projected"]["sources"]:
                    ref = source["secret"]
                    data = self.secret_data(ref["name"])
                    for item in ref["items"]:
                        assert item["key"] in data, f"Secret {ref['name']} lacks key {item['key']}"
                        target = path / item["path"]
                        target.write_text(data[item["key"]])
                        target.chmod(mode)
            else:
                raise AssertionError(f"volume type not supported by this test: {volume}")
            out[volume["name"]] = path
        return out

    def environment(self, container: dict[str, Any], mounts: dict[str, Path]) -> dict[str, str]:
        env: dict[str, str] = {}
        for source in container.get("envFrom", []):
            if "configMapRef" in source:
                env.update(self.get("ConfigMap", source["configMapRef"]["name"])["data"])
            else:
                env.update(self.secret_data(source["secretRef"]["name"]))
        for var in container.get("env", []):
            if "value" in var:
                value = re.sub(
                    r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)", lambda m: env.get(m[1], m[0]), var["value"]
                )
            else:
                ref = var["valueFrom"]
                if "secretKeyRef" in ref:
                    data = self.secret_data(ref["secretKeyRef"]["name"])
                    key = ref["secretKeyRef"]["key"]
                    if key not in data and ref["secretKeyRef"].get("optional"):
                        continue
                    value = data[key]
                elif "configMapKeyRef" in ref:
                    value = self.get("ConfigMap", ref["configMapKeyRef"]["name"])["data"][
                        ref["configMapKeyRef"]["key"]
                    ]
                elif "fieldRef" in ref:
                    value = {
                        "metadata.name": "pod-0",
                        "metadata.namespace": NAMESPACE,
                        "status.podIP": "127.0.0.1",
                    }[ref["fieldRef"]["fieldPath"]]
                else:
                    raise AssertionError(f"env source not supported by this test: {var}")
            env[var["name"]] = value
        # Paths inside the container -> the local directories backing the mounts.
        mount_paths = {m["mountPath"]: mounts[m["name"]] for m in container.get("volumeMounts", [])}
        for name, value in list(env.items()):
            for mount_path, local in mount_paths.items():
                if value.startswith(mount_path + "/"):
                    env[name] = str(local) + value[len(mount_path) :]
        assert "/tmp" in mount_paths, (
            "no writable /tmp: the read-only root filesystem would break the app"
        )
        base = {
            "PATH": f"{VENV_BIN}:/usr/bin:/bin",
            "HOME": str(mount_paths["/tmp"]),
            "TMPDIR": str(mount_paths["/tmp"]),
            "LANG": "C.UTF-8",
        }
        return {**base, **env}

    def command(self, container: dict[str, Any]) -> list[str]:
        argv = [*container["command"], *container.get("args", [])]
        executable = shutil.which(argv[0], path=f"{VENV_BIN}:/usr/bin:/bin")
        assert executable, f"{argv[0]} is not on the image PATH"
        return [executable, *argv[1:]]

    def prepare(
        self, pod: dict[str, Any], container: dict[str, Any], tag: str
    ) -> tuple[list[str], dict[str, str], Path]:
        mounts = self.volumes(pod, tag)
        env = self.environment(container, mounts)
        cwd = Path(tempfile.mkdtemp(prefix=f"{tag}-cwd-", dir=self.workdir))
        return self.command(container), env, cwd

    def run_to_completion(
        self, pod: dict[str, Any], tag: str, timeout: float
    ) -> subprocess.CompletedProcess[str]:
        container = pod["containers"][0]
        argv, env, cwd = self.prepare(pod, container, tag)
        return subprocess.run(
            argv, env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout
        )


def http_get(
    url: str, timeout: float, headers: dict[str, str] | None = None, method: str = "GET"
) -> tuple[int, str]:
    request = urllib.request.Request(url, headers=headers or {}, method=method)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()
    except (urllib.error.URLError, OSError) as exc:
        return 0, str(exc)


def kubelet_probe(probe: dict[str, Any], ports: dict[str, int], *, until_success: bool) -> float:
    """Run an HTTP probe like the kubelet: named port, periodSeconds, timeoutSeconds and
    failureThreshold; success is a status in [200, 400). Returns the time it took to succeed."""
    get = probe["httpGet"]
    assert isinstance(get["port"], str), "probes must use the named port"
    port = ports[get["port"]]
    url = f"http://127.0.0.1:{port}{get['path']}"
    period, timeout = probe.get("periodSeconds", 10), probe.get("timeoutSeconds", 1)
    threshold = probe.get("failureThreshold", 3)
    start = time.monotonic()
    failures = 0
    while True:
        status, body = http_get(url, timeout)
        if 200 <= status < 400:
            return time.monotonic() - start
        failures += 1
        if failures >= threshold or not until_success:
            raise AssertionError(
                f"probe {get['path']} failed {failures}x (the kubelet would restart the "
                f"container): {status} {body[:300]}"
            )
        # Probe faster than the declared period to keep the test short; the budget stays the same.
        time.sleep(min(period, 0.5))
        if time.monotonic() - start > period * threshold:
            raise AssertionError(
                f"probe {get['path']} exceeded its budget of {period * threshold}s"
            )


@contextlib.contextmanager
def running(
    argv: list[str], env: dict[str, str], cwd: Path, log: Path
) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as out:
        process = subprocess.Popen(argv, env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT)
        try:
            yield process
        finally:
            if process.poll() is None:
                process.kill()
                process.wait(10)


def app_ready() -> bool:
    return shutil.which("shipshape", path=str(VENV_BIN)) is not None


def test_rendered_production_pods_run_against_the_app(tmp_path: Path) -> None:
    if not app_ready():
        unavailable("the shipshape console script is not installed in .venv (make venv)")
    try:
        server_cm = start_postgres()
        server = server_cm.__enter__()
    except ServerUnavailable as exc:
        unavailable(str(exc))
        return
    try:
        _contract(tmp_path, server)
    finally:
        server_cm.__exit__(None, None, None)


def _contract(tmp_path: Path, server: Any) -> None:
    prod = yaml.safe_load((CHART / "values-prod.yaml").read_text())
    values = deep_merge(
        prod,
        {
            # the production shape, with the chart-rendered Secret instead of the ExternalSecret
            # (no External Secrets Operator here) and the throwaway server as "RDS"
            "externalSecret": {"enabled": False},
            "externalDatabase": {
                "host": server.host,
                "port": server.port,
                "database": server.database,
                "user": server.user,
                "password": server.password,
                "query": "",
            },
            "secrets": {"adminToken": ADMIN_TOKEN},
            # the opt-in write checker, small enough for a contract test
            "checkWrites": {
                "enabled": True,
                "count": 40,
                "durationSeconds": 10,
                "requestTimeoutSeconds": 5,
                "activeDeadlineSeconds": 60,
            },
        },
    )
    objects = render(values)
    kubelet = Kubelet(objects, tmp_path)
    fullname = "shipshape"

    # 1. pre-install hooks, by weight: the Secret copy (-10), then the migration Job (0).
    hooks = sorted(
        (o for o in objects if "helm.sh/hook" in o["metadata"].get("annotations", {})),
        key=lambda o: int(o["metadata"]["annotations"].get("helm.sh/hook-weight", "0")),
    )
    install_hooks = [
        o for o in hooks if "pre-install" in o["metadata"]["annotations"]["helm.sh/hook"]
    ]
    assert [(o["kind"], o["metadata"]["name"]) for o in install_hooks] == [
        ("Secret", f"{fullname}-migrate"),
        ("Job", f"{fullname}-migrate"),
    ]
    job = kubelet.get("Job", f"{fullname}-migrate")
    migrate = kubelet.run_to_completion(
        job["spec"]["template"]["spec"], "migrate", job["spec"]["activeDeadlineSeconds"]
    )
    assert migrate.returncode == 0, migrate.stdout + migrate.stderr
    # Migrations are idempotent: a retried Job (backoffLimit) or the next upgrade succeeds too.
    again = kubelet.run_to_completion(job["spec"]["template"]["spec"], "migrate-again", 120)
    assert again.returncode == 0, again.stdout + again.stderr

    # 2. the app container of the Deployment.
    deployment = kubelet.get("Deployment", fullname)
    pod = deployment["spec"]["template"]["spec"]
    container = pod["containers"][0]
    argv, env, cwd = kubelet.prepare(pod, container, "app")
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert env["SHIPSHAPE_PORT"] == str(ports["http"]), "the app must listen on the port named http"
    assert env["SHIPSHAPE_HOST"] == "0.0.0.0"
    local = free_port()
    env.update(SHIPSHAPE_PORT=str(local), SHIPSHAPE_HOST="127.0.0.1")
    local_ports = {"http": local}

    check = subprocess.run(
        [argv[0], "check-config"], env=env, cwd=cwd, capture_output=True, text=True, timeout=60
    )
    assert check.returncode == 0, check.stdout + check.stderr
    effective = json.loads(check.stdout)
    assert effective["environment"] == "production"
    assert server.password not in check.stdout
    assert ADMIN_TOKEN not in check.stdout

    log = tmp_path / "app.log"
    with running(argv, env, cwd, log) as process:
        # startup probe first (the kubelet holds liveness/readiness until it succeeds)
        started = kubelet_probe(container["startupProbe"], local_ports, until_success=True)
        assert (
            started
            < container["startupProbe"]["periodSeconds"]
            * container["startupProbe"]["failureThreshold"]
        )
        kubelet_probe(container["livenessProbe"], local_ports, until_success=False)
        kubelet_probe(container["readinessProbe"], local_ports, until_success=True)

        # the secrets mounted as files reached the app: the operator token works
        status, _ = http_get(
            f"http://127.0.0.1:{local}/admin/readiness/enable",
            5,
            {"Authorization": f"Bearer {ADMIN_TOKEN}"},
            method="POST",
        )
        assert 200 <= status < 300, status
        status, _ = http_get(
            f"http://127.0.0.1:{local}/admin/readiness/enable",
            5,
            {"Authorization": "Bearer wrong-token-wrong-token"},
            method="POST",
        )
        assert status == 401
        status, body = http_get(f"http://127.0.0.1:{local}/", 5)
        assert status == 200, body

        # the metrics the alert rules use are exposed (ServiceMonitor scrapes port http /metrics)
        status, metrics = http_get(f"http://127.0.0.1:{local}/metrics", 5)
        assert status == 200
        rules = (CHART / "files" / "prometheus-rules.yaml").read_text()
        used = set(re.findall(r"\b(shipshape_[a-z_]+)", rules))
        for name in used:
            base = re.sub(r"_(bucket|count|sum)$", "", name)
            assert (
                f"# TYPE {base.removesuffix('_total')} " in metrics or f"# TYPE {base} " in metrics
            ), name

        # 3. the prune CronJob's command against the same database
        cron = kubelet.get("CronJob", f"{fullname}-prune")
        prune_pod = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]
        prune = kubelet.run_to_completion(
            prune_pod, "prune", cron["spec"]["jobTemplate"]["spec"]["activeDeadlineSeconds"]
        )
        assert prune.returncode == 0, prune.stdout + prune.stderr

        # 4. helm test: the test pod's command, through the Service name and port
        test_pod = kubelet.get("Pod", f"{fullname}-test")
        assert test_pod["metadata"]["annotations"]["helm.sh/hook"] == "test"
        service = kubelet.get("Service", fullname)
        test_container = test_pod["spec"]["containers"][0]
        test_argv, test_env, test_cwd = kubelet.prepare(test_pod["spec"], test_container, "test")
        url_index = test_argv.index("--url") + 1
        url = urlsplit(test_argv[url_index])
        assert url.hostname in {
            fullname,
            f"{fullname}.{NAMESPACE}",
            f"{fullname}.{NAMESPACE}.svc",
            f"{fullname}.{NAMESPACE}.svc.cluster.local",
        }
        service_port = next(p for p in service["spec"]["ports"] if p["port"] == (url.port or 80))
        assert service_port["targetPort"] == "http"
        assert (
            service["spec"]["selector"].items()
            <= deployment["spec"]["template"]["metadata"]["labels"].items()
        )
        test_argv[url_index] = (
            f"http://127.0.0.1:{local_ports[service_port['targetPort']]}{url.path}"
        )
        assert url.path == container["readinessProbe"]["httpGet"]["path"]
        result = subprocess.run(
            test_argv,
            env=test_env,
            cwd=test_cwd,
            capture_output=True,
            text=True,
            timeout=test_pod["spec"]["activeDeadlineSeconds"],
        )
        assert result.returncode == 0, result.stdout + result.stderr

        # 4b. helm test, opt-in: the check-writes pod's command through the same Service,
        # within its pod deadline; every acknowledged write is read back
        checker_pod = kubelet.get("Pod", f"{fullname}-check-writes")
        assert checker_pod["metadata"]["annotations"]["helm.sh/hook"] == "test"
        checker_argv, checker_env, checker_cwd = kubelet.prepare(
            checker_pod["spec"], checker_pod["spec"]["containers"][0], "check-writes"
        )
        url_index = checker_argv.index("--url") + 1
        checker_url = urlsplit(checker_argv[url_index])
        assert checker_url.hostname == f"{fullname}.{NAMESPACE}.svc"
        assert checker_url.port == service_port["port"]
        checker_argv[url_index] = f"http://127.0.0.1:{local_ports[service_port['targetPort']]}"
        checked = subprocess.run(
            checker_argv,
            env=checker_env,
            cwd=checker_cwd,
            capture_output=True,
            text=True,
            timeout=checker_pod["spec"]["activeDeadlineSeconds"],
        )
        assert checked.returncode == 0, checked.stdout + checked.stderr
        report = json.loads(checked.stdout)
        assert report["ok"] is True
        assert report["lost"] == 0, report
        assert report["duplicated"] == 0, report
        assert 0 < report["acknowledged"] <= 40, report

        # 5. termination: preStop, then SIGTERM; exit 0 within terminationGracePeriodSeconds
        grace = pod["terminationGracePeriodSeconds"]
        deleted = time.monotonic()
        pre_stop = container["lifecycle"]["preStop"]
        assert set(pre_stop) == {"sleep"}, pre_stop
        sleep_until = deleted + pre_stop["sleep"]["seconds"]
        while time.monotonic() < sleep_until:
            # still serving and ready while load balancers drop the endpoint
            status, _ = http_get(f"http://127.0.0.1:{local}/readyz", 2)
            assert status == 200
            time.sleep(0.5)
        process.send_signal(signal.SIGTERM)
        signalled = time.monotonic()
        not_ready_after = None
        served_while_draining = 0
        while process.poll() is None and time.monotonic() - deleted < grace + 1:
            status, _ = http_get(f"http://127.0.0.1:{local}/readyz", 1)
            if status == 503 and not_ready_after is None:
                not_ready_after = time.monotonic() - signalled
            if not_ready_after is not None and process.poll() is None:
                live, _ = http_get(f"http://127.0.0.1:{local}/", 1)
                served_while_draining += live == 200
            time.sleep(0.2)
        exited = time.monotonic() - deleted
        code = process.wait(timeout=max(0.1, grace - exited) + 1)
        output = log.read_text(errors="replace")
        assert code == 0, output[-3000:]
        assert exited <= grace, f"took {exited:.1f}s, grace period is {grace}s"
        assert not_ready_after is not None, "never turned not ready after SIGTERM"
        assert not_ready_after < 2, "not ready at once on SIGTERM"
        assert served_while_draining > 0, "requests must still be served while draining"
        assert server.password not in output
        assert ADMIN_TOKEN not in output
        print(
            f"startup {started:.2f}s; preStop {pre_stop['sleep']['seconds']}s; not ready "
            f"{not_ready_after:.2f}s after SIGTERM; {served_while_draining} requests served while "
            f"draining; exit 0 {exited:.1f}s after deletion (grace {grace}s)"
        )
