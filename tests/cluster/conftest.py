"""One real control plane for the whole rehearsal session (tests/support/kube.py), with the CRDs
of the add-ons infra/terraform installs (tests/support/addons.py), the real Helm v4 CLI, and a
stand-in for the External Secrets Operator's controller."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support import addons, kube
from tests.support.kube import ControlPlane, build_tools, control_plane, log


@pytest.fixture(scope="session", autouse=True)
def _progress_on_the_terminal(request: pytest.FixtureRequest) -> Iterator[None]:
    """pytest captures fd 2 for passing tests: [cluster] lines go out with the capture suspended,
    so `make test-cluster` shows the build, start-up and Helm step times as they happen."""
    capture = request.config.pluginmanager.getplugin("capturemanager")

    def write(line: str) -> None:
        if capture is None:
            print(line, file=sys.stderr, flush=True)
            return
        with capture.global_and_fixture_disabled():
            print(line, file=sys.stderr, flush=True)

    kube.set_log_sink(write)
    yield
    kube.set_log_sink(None)


@pytest.fixture(scope="session")
def tools() -> dict[str, Path]:
    return build_tools()


@dataclass
class Platform:
    """The rehearsal cluster and the add-on CRDs each environment has."""

    cluster: ControlPlane
    crds: dict[str, list[dict[str, Any]]]
    addons: dict[str, list[addons.Addon]]
    helm: Path
    kubectl: Path

    def helm_run(
        self, *args: str, timeout: float = 300, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        t0 = time.monotonic()
        done = subprocess.run(
            [str(self.helm), *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=self.cluster.env,
        )
        log(
            f"helm {' '.join(a for a in args[:3])} ... exit {done.returncode} in {time.monotonic() - t0:.1f} s"
        )
        if check and done.returncode != 0:
            raise AssertionError(
                f"helm {' '.join(args)} exited {done.returncode}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
            )
        return done

    def kubectl_json(self, *args: str, stdin: str | None = None) -> dict[str, Any]:
        done = subprocess.run(
            [str(self.kubectl), *args, "-o", "json"],
            input=stdin,
            capture_output=True,
            text=True,
            timeout=120,
            env=self.cluster.env,
        )
        if done.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)}: {done.stderr}")
        return dict(json.loads(done.stdout))


ROLE_ANNOTATION = "eks.amazonaws.com/role-arn"


def _ready(obj: dict[str, Any]) -> bool | None:
    for condition in (obj.get("status") or {}).get("conditions") or []:
        if condition.get("type") == "Ready":
            return bool(condition.get("status") == "True")
    return None


@dataclass
class ExternalSecretsStandIn:
    """What the External Secrets Operator's controllers do for a rehearsal, with the two gates
    that decide a first sync's order (external-secrets v1: pkg/controllers/secretstore and the
    AWS provider's credsFromServiceAccount):
    - a SecretStore turns Ready only once the ServiceAccount of its auth.jwt exists and carries
      the IRSA role annotation (the operator reads it to build its AWS client); until then its
      Ready condition is False (Argo CD: Degraded);
    - an ExternalSecret is synced only through a Ready store (the floodgate); it then gets its
      target Secret, owned by it (creationPolicy Owner), holding each spec.data[].secretKey, and
      Ready=True; else Ready=False.
    It reads no AWS: the values are placeholders (the controller itself is not run here; its
    CRDs are the real ones)."""

    cluster: ControlPlane
    stop: threading.Event = field(default_factory=threading.Event)
    created: list[str] = field(default_factory=list)

    def run(self) -> None:
        with self.cluster.client() as c:
            while not self.stop.wait(0.3):
                try:
                    self._sync(c)
                except httpx.HTTPError:
                    continue

    def _set_ready(self, c: httpx.Client, obj: dict[str, Any], ready: bool, reason: str) -> None:
        if _ready(obj) is ready:
            return
        meta = obj["metadata"]
        plural = {"SecretStore": "secretstores", "ExternalSecret": "externalsecrets"}[obj["kind"]]
        status = {
            "conditions": [
                {
                    "type": "Ready",
                    "status": "True" if ready else "False",
                    "reason": reason,
                    "message": reason,
                    "lastTransitionTime": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                }
            ]
        }
        c.patch(
            f"/apis/external-secrets.io/v1/namespaces/{meta['namespace']}/{plural}/{meta['name']}/status",
            json={"status": status},
            headers={"Content-Type": "application/merge-patch+json"},
        )

    def _store_ready(self, c: httpx.Client, store: dict[str, Any]) -> tuple[bool, str]:
        auth = store["spec"].get("provider", {}).get("aws", {}).get("auth", {})
        name = auth.get("jwt", {}).get("serviceAccountRef", {}).get("name")
        if not name:
            return True, "StoreValid"
        ns = store["metadata"]["namespace"]
        account = c.get(f"/api/v1/namespaces/{ns}/serviceaccounts/{name}")
        if account.status_code == 404:
            return False, f"InvalidProviderConfig: serviceaccounts {name!r} not found"
        annotations = account.json()["metadata"].get("annotations") or {}
        if not annotations.get(ROLE_ANNOTATION):
            return False, f"InvalidProviderConfig: an IAM role must be associated with {name}"
        return True, "StoreValid"

    def _sync(self, c: httpx.Client) -> None:
        stores = c.get("/apis/external-secrets.io/v1/secretstores")
        if stores.status_code != 200:
            return
        usable: set[tuple[str, str]] = set()
        for store in stores.json()["items"]:
            ready, reason = self._store_ready(c, store)
            self._set_ready(c, store, ready, reason)
            if ready:
                usable.add((store["metadata"]["namespace"], store["metadata"]["name"]))
        listed = c.get("/apis/external-secrets.io/v1/externalsecrets")
        if listed.status_code != 200:
            return
        for es in listed.json()["items"]:
            meta = es["metadata"]
            if meta.get("deletionTimestamp"):
                continue
            ns = meta["namespace"]
            ref = es["spec"].get("secretStoreRef", {})
            if (ns, ref.get("name")) not in usable:
                self._set_ready(
                    c, es, False, f"SecretSyncedError: store {ref.get('name')} not ready"
                )
                continue
            target = es["spec"].get("target", {}).get("name") or meta["name"]
            if c.get(f"/api/v1/namespaces/{ns}/secrets/{target}").status_code != 404:
                self._set_ready(c, es, True, "SecretSynced")
                continue
            data = {
                d["secretKey"]: "cmVoZWFyc2FsLXBsYWNlaG9sZGVy"  # "rehearsal-placeholder"
                for d in es["spec"].get("data", [])
            }
            secret = {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {
                    "name": target,
                    "namespace": ns,
                    "labels": {"reconcile.external-secrets.io/managed": "true"},
                    "ownerReferences": [
                        {
                            "apiVersion": es["apiVersion"],
                            "kind": "ExternalSecret",
                            "name": meta["name"],
                            "uid": meta["uid"],
                            "controller": True,
                            "blockOwnerDeletion": True,
                        }
                    ],
                },
                "type": "Opaque",
                "data": data,
            }
            if c.post(f"/api/v1/namespaces/{ns}/secrets", json=secret).status_code == 201:
                self.created.append(f"{ns}/{target}")
                self._set_ready(c, es, True, "SecretSynced")


# Module scope: the control plane and the External Secrets stand-in (a thread polling the API
# server, logging through httpx) stop when the rehearsal ends, not with the whole session,
# where their log lines reached the log tests of other suites.
@pytest.fixture(scope="module")
def platform(tools: dict[str, Path]) -> Iterator[Platform]:
    crds: dict[str, list[dict[str, Any]]] = {}
    found: dict[str, list[addons.Addon]] = {}
    t0 = time.monotonic()
    for env in addons.ENVIRONMENTS:
        found[env], crds[env] = addons.crds_for(env, tools["helm"])
        log(
            f"{env}: add-ons {[f'{a.key}@{a.chart_version}' for a in found[env]]}, {len(crds[env])} CRDs"
        )
    log(f"add-on CRDs fetched in {time.monotonic() - t0:.0f} s")
    names = {env: sorted(c["metadata"]["name"] for c in crds[env]) for env in crds}
    # CRDs are cluster-scoped: one control plane serves every environment only while they all
    # get the same add-ons. When infra/ makes them differ, run one cluster per CRD set.
    assert len({tuple(v) for v in names.values()}) == 1, (
        f"the environments' add-on CRDs differ ({names}): give each CRD set its own control plane"
    )
    with control_plane(tools) as cluster:
        t1 = time.monotonic()
        cluster.install_crds(crds["prod"])
        log(f"{len(crds['prod'])} add-on CRDs established in {time.monotonic() - t1:.1f} s")
        stand_in = ExternalSecretsStandIn(cluster)
        thread = threading.Thread(target=stand_in.run, name="eso-stand-in", daemon=True)
        thread.start()
        try:
            yield Platform(cluster, crds, found, tools["helm"], tools["kubectl"])
        finally:
            stand_in.stop.set()
            thread.join(timeout=10)
            assert not thread.is_alive(), "the External Secrets stand-in did not stop"
