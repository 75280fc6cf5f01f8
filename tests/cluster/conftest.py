"""One real control plane for the whole rehearsal session (tests/support/kube.py), with the CRDs
of the add-ons infra/terraform installs (tests/support/addons.py), the real Helm v4 CLI, and a
stand-in for the External Secrets Operator's controller."""

from __future__ import annotations

import json
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support import addons
from tests.support.kube import ControlPlane, build_tools, control_plane, log


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


@dataclass
class ExternalSecretsStandIn:
    """What the External Secrets Operator's controller does for a rehearsal: for every
    ExternalSecret, its target Secret owned by it (creationPolicy Owner), holding each
    spec.data[].secretKey. It reads no AWS: the values are placeholders (the controller itself
    is not run here; its CRDs are the real ones)."""

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

    def _sync(self, c: httpx.Client) -> None:
        listed = c.get("/apis/external-secrets.io/v1/externalsecrets")
        if listed.status_code != 200:
            return
        for es in listed.json()["items"]:
            meta = es["metadata"]
            if meta.get("deletionTimestamp"):
                continue
            ns = meta["namespace"]
            target = es["spec"].get("target", {}).get("name") or meta["name"]
            if c.get(f"/api/v1/namespaces/{ns}/secrets/{target}").status_code != 404:
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


@pytest.fixture(scope="session")
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
