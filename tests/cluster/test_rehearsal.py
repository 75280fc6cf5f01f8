"""Deploy rehearsal: every environment (values-dev/staging/prod.yaml) installed, tested, upgraded
and rolled back with the real Helm v4 CLI on a real kube-apiserver with admission on
(NodeRestriction, PodSecurity `restricted` on the namespaces, RBAC), kwok nodes in three zones, and
exactly the CRDs of the add-ons infra/terraform installs for that environment.

Steps, in order, per environment (each a test, so `make test-cluster` lists them):
  platform   the environment's platform layer (deploy/gitops/platform/<env>: namespace, SecretStore)
  previous   install the previous chart (a fixed earlier commit, packaged from git)
  upgrade    upgrade it to this chart; PDB, HPA minimum and topology spread satisfied on the nodes
  test       `helm test`
  noop       upgrade with nothing changed (chart version +another git revision, as Flux builds
             it): no pod rolls, every non-hook object keeps its UID
  config     upgrade with a config change: pods roll, after the migration hook Job completed
  toggle     switch the secret/database mode and back; the ServiceAccount keeps its UID
  rollback   `helm rollback` to the config change's revision
  fresh      `helm install --wait` of this chart into a new namespace, then `helm test`
Finally, a cluster that lacks a CRD the values need fails the install.

kwok stands in for the kubelet: pods become Running/Ready without running containers (probes
and the app's readiness checks are not exercised; tests/e2e and tests/integration do that).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.cluster.conftest import Platform
from tests.support import argocd_sync
from tests.support import previous_chart as previous
from tests.support.kube import log
from tests.support.tools import REPO

CHART = REPO / "charts" / "shipshape"
RELEASE = "shipshape"
ENVIRONMENTS = ("dev", "staging", "prod")
# The chart before the rehearsal fixes (SA hook, version labels on pods, random dev password).
# Replace by the last release tag once one exists.
PREVIOUS_CHART_COMMIT = "6f7be64aa81850a23bccd948627314e243d4d900"
WAIT = "240s"  # helm --wait bound per step
HELM_TIMEOUT = 400  # the process itself

state: dict[str, dict[str, Any]] = {env: {} for env in ENVIRONMENTS}


def ns(env: str) -> str:
    return f"shipshape-{env}"


# The opt-in write checker (a second `helm test` pod), small bounds, in every step.
CHECK_WRITES = {
    "checkWrites.enabled": "true",
    "checkWrites.count": "50",
    "checkWrites.durationSeconds": "20",
    "checkWrites.requestTimeoutSeconds": "5",
    "checkWrites.activeDeadlineSeconds": "90",
}


def values_args(env: str, *extra: str) -> list[str]:
    checker = ",".join(f"{k}={v}" for k, v in CHECK_WRITES.items())
    return ["-f", str(CHART / f"values-{env}.yaml"), "--set", checker, *extra]


def platform_owns_service_account(env: str) -> bool:
    """staging and prod: the platform layer owns the app's ServiceAccount (create=false)."""
    return env_values(env).get("serviceAccount", {}).get("create", True) is False


def env_values(env: str) -> dict[str, Any]:
    return yaml.safe_load((CHART / f"values-{env}.yaml").read_text()) or {}


def needs(env: str, step: str) -> None:
    """Steps build on each other: a later one fails at once when an earlier one did."""
    if not state[env].get(step):
        pytest.fail(f"{env}: step {step!r} did not pass")


def wait_for(what: str, check: Callable[[], Any], timeout: float = 120) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(0.5)
    raise AssertionError(f"{what}: not within {timeout:.0f} s (last: {last})")


# --------------------------------------------------------------------------- observations


def release_objects(p: Platform, env: str, namespace: str | None = None) -> dict[str, str]:
    """UID of every non-hook object of the release ("Kind/name" -> uid)."""
    namespace = namespace or ns(env)
    manifest = p.helm_run("get", "manifest", RELEASE, "-n", namespace).stdout
    listed = p.kubectl_json("get", "-n", namespace, "-f", "-", stdin=manifest)
    items = listed.get("items", [listed])
    return {f"{i['kind']}/{i['metadata']['name']}": i["metadata"]["uid"] for i in items}


def web_pods(p: Platform, namespace: str) -> list[dict[str, Any]]:
    pods = p.kubectl_json(
        "get", "pods", "-n", namespace,
        "-l", f"app.kubernetes.io/instance={RELEASE},app.kubernetes.io/component=web",
    )["items"]  # fmt: skip
    return [q for q in pods if not q["metadata"].get("deletionTimestamp")]


def pod_template_hashes(pods: list[dict[str, Any]]) -> set[str]:
    return {q["metadata"]["labels"]["pod-template-hash"] for q in pods}


def service_account_uid(p: Platform, namespace: str) -> str:
    sa = p.kubectl_json("get", "serviceaccount", RELEASE, "-n", namespace)
    return str(sa["metadata"]["uid"])


def deployment(p: Platform, namespace: str) -> dict[str, Any]:
    return p.kubectl_json("get", "deployment", RELEASE, "-n", namespace)


def settled(p: Platform, namespace: str, replicas: int) -> list[dict[str, Any]] | None:
    """The web pods once the rollout is over: `replicas` pods, all Running and Ready, one
    template, no pod Pending or terminating."""
    d = deployment(p, namespace)
    status = d.get("status", {})
    pods = web_pods(p, namespace)
    ready = [
        q
        for q in pods
        if q["status"].get("phase") == "Running"
        and any(
            c["type"] == "Ready" and c["status"] == "True"
            for c in q["status"].get("conditions", [])
        )
    ]
    if (
        status.get("updatedReplicas") == replicas
        and status.get("availableReplicas") == replicas
        and status.get("replicas") == replicas
        and len(pods) == replicas
        and len(ready) == replicas
        and len(pod_template_hashes(pods)) == 1
    ):
        return pods
    return None


def expected_replicas(env: str) -> int:
    values = env_values(env)
    autoscaling = values.get("autoscaling", {})
    if autoscaling.get("enabled"):
        return int(autoscaling.get("minReplicas", 2))
    return int(values.get("replicaCount", 2))


def snapshot(p: Platform, env: str) -> dict[str, Any]:
    pods = wait_for(f"{env}: rollout settled", lambda: settled(p, ns(env), expected_replicas(env)))
    return {
        "objects": release_objects(p, env),
        "pods": {q["metadata"]["name"]: q["metadata"]["uid"] for q in pods},
        "hashes": pod_template_hashes(pods),
        "sa": service_account_uid(p, ns(env)),
    }


def previous_chart(tmp: Path) -> Path:
    """charts/shipshape at PREVIOUS_CHART_COMMIT, from git, also from a shallow clone
    (tests/support/previous_chart.py: fetched by commit, or SHIPSHAPE_PREVIOUS_CHART)."""
    try:
        return previous.previous_chart(REPO, PREVIOUS_CHART_COMMIT, tmp)
    except previous.PreviousChartUnavailable as exc:
        pytest.fail(str(exc))


def chart_with_version(tmp: Path, suffix: str) -> Path:
    """This chart as Flux's reconcileStrategy Revision packages it: version+<git revision>."""
    dest = tmp / f"chart-{suffix}"
    if not dest.exists():
        shutil.copytree(CHART, dest)
        meta = yaml.safe_load((dest / "Chart.yaml").read_text())
        meta["version"] = f"{meta['version']}+{suffix}"
        (dest / "Chart.yaml").write_text(yaml.safe_dump(meta, sort_keys=False))
    return dest


# --------------------------------------------------------------------------- steps


def platform_docs(p: Platform, env: str, namespace: str) -> list[dict[str, Any]]:
    """deploy/gitops/platform/<env> as GitOps delivers it, moved into `namespace`."""
    rendered = subprocess.run(
        [str(p.kubectl), "kustomize", str(REPO / "deploy" / "gitops" / "platform" / env)],
        capture_output=True, text=True, timeout=60, check=True,
    ).stdout  # fmt: skip
    docs = [d for d in yaml.safe_load_all(rendered) if d]
    for doc in docs:
        if doc["kind"] == "Namespace":
            doc["metadata"]["name"] = namespace
        else:
            doc["metadata"]["namespace"] = namespace
    return docs


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_platform_layer(platform: Platform, env: str) -> None:
    """The environment's platform objects as GitOps delivers them (namespace with Pod Security
    `restricted` enforced, the app's ServiceAccount and the SecretStore where the environment
    has an ExternalSecret) into this rehearsal's namespace."""
    docs = platform_docs(platform, env, ns(env))
    kinds = Counter(d["kind"] for d in docs)
    assert kinds["Namespace"] == 1
    (namespace,) = [d for d in docs if d["kind"] == "Namespace"]
    labels = namespace["metadata"].get("labels", {})
    assert labels.get("pod-security.kubernetes.io/enforce") == "restricted", labels
    platform.cluster.apply_manifest(yaml.safe_dump_all(docs))
    if env_values(env).get("externalSecret", {}).get("enabled"):
        assert kinds["SecretStore"] == 1, (
            f"{env} uses an ExternalSecret: its SecretStore is missing"
        )
        assert platform_owns_service_account(env)
        # The store authenticates as the platform's ServiceAccount: Ready before any chart.
        wait_for(
            f"{env}: SecretStore Ready",
            lambda: (
                argocd_sync.health(
                    platform.kubectl_json(
                        "get", "secretstore", "aws-secrets-manager", "-n", ns(env)
                    )
                )
                == "Healthy"
            ),
            timeout=30,
        )
    state[env]["platform"] = True


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_install_previous_chart(
    platform: Platform, env: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    needs(env, "platform")
    old = previous_chart(tmp_path_factory.mktemp(f"previous-{env}"))
    # The previous chart rendered ServiceMonitor/PrometheusRule unconditionally: on these clusters
    # (no Prometheus Operator, as infra/ installs them) it could only be installed without them.
    platform.helm_run(
        "install", RELEASE, str(old), "-n", ns(env), "-f", str(old / f"values-{env}.yaml"),
        "--set", "metrics.serviceMonitor.enabled=false,metrics.prometheusRule.enabled=false",
        "--wait", "--timeout", WAIT, timeout=HELM_TIMEOUT,
    )  # fmt: skip
    state[env]["previous"] = True


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_upgrade_from_previous_chart(platform: Platform, env: str) -> None:
    needs(env, "previous")
    # The upgrade note of 0.2 -> 0.3 (chart README): 0.2 made the ServiceAccount a hook (with an
    # ExternalSecret and the migration hook), so it has no Helm ownership annotations and Helm
    # refuses to adopt it as the release object it now is. The note's commands, as a user runs them:
    sa = platform.kubectl_json("get", "serviceaccount", RELEASE, "-n", ns(env))
    if platform_owns_service_account(env):
        # 0.3 leaves the ServiceAccount to the platform layer (values serviceAccount.create=false):
        # the 0.2 hook's copy stays (Helm never deletes a hook without a delete policy that says
        # so), and GitOps re-applies the platform layer of the same commit over it.
        platform.cluster.apply_manifest(yaml.safe_dump_all(platform_docs(platform, env, ns(env))))
    elif "meta.helm.sh/release-name" not in (sa["metadata"].get("annotations") or {}):
        assert "helm.sh/hook" in sa["metadata"]["annotations"], "only 0.2's hook lacks them"
        for cmd in (
            ["annotate", "serviceaccount", RELEASE, f"meta.helm.sh/release-name={RELEASE}",
             f"meta.helm.sh/release-namespace={ns(env)}"],
            ["label", "serviceaccount", RELEASE, "app.kubernetes.io/managed-by=Helm", "--overwrite"],
        ):  # fmt: skip
            platform.kubectl_json(*cmd, "-n", ns(env))
    platform.helm_run(
        "upgrade", RELEASE, str(CHART), "-n", ns(env), *values_args(env),
        "--wait", "--timeout", WAIT, timeout=HELM_TIMEOUT,
    )  # fmt: skip
    snap = snapshot(platform, env)
    pods = web_pods(platform, ns(env))
    assert len(pods) == expected_replicas(env)
    values = env_values(env)
    # Scheduling on the simulated nodes: HPA minimum reached, spread over zones within maxSkew.
    nodes = {n["metadata"]["name"]: n for n in platform.kubectl_json("get", "nodes")["items"]}
    zones = Counter(
        nodes[q["spec"]["nodeName"]]["metadata"]["labels"]["topology.kubernetes.io/zone"]
        for q in pods
    )
    if values.get("topologySpread", {}).get("enabled", True):
        counts = [
            zones.get(z, 0)
            for z in {
                n["metadata"]["labels"]["topology.kubernetes.io/zone"] for n in nodes.values()
            }
        ]
        assert max(counts) - min(counts) <= int(
            values.get("topologySpread", {}).get("maxSkew", 1)
        ), zones
    if values.get("autoscaling", {}).get("enabled"):
        hpa = platform.kubectl_json("get", "hpa", RELEASE, "-n", ns(env))
        assert hpa["spec"]["minReplicas"] == expected_replicas(env)
    if values.get("podDisruptionBudget", {}).get("enabled", True):
        pdb = wait_for(
            f"{env}: PDB status",
            lambda: (
                d
                if (d := platform.kubectl_json("get", "pdb", RELEASE, "-n", ns(env)))
                .get("status", {})
                .get("expectedPods")
                == expected_replicas(env)
                else None
            ),
        )
        assert pdb["status"]["currentHealthy"] >= pdb["status"]["desiredHealthy"]
        assert pdb["status"]["disruptionsAllowed"] >= 1, pdb["status"]
    state[env]["snapshot"] = snap
    state[env]["upgrade"] = True
    log(f"{env}: {len(pods)} pods over zones {dict(zones)}")


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_helm_test(platform: Platform, env: str) -> None:
    needs(env, "upgrade")
    done = platform.helm_run(
        "test", RELEASE, "-n", ns(env), "--timeout", WAIT, timeout=HELM_TIMEOUT
    )
    assert "Phase:          Succeeded" in done.stdout or "Succeeded" in done.stdout, done.stdout
    assert f"{RELEASE}-check-writes" in done.stdout, done.stdout
    # The write checker: admitted under Pod Security restricted (the namespace enforces it), kept
    # after success (its log is the report), with the bounds of its values. kwok runs no
    # container, so what it would report is proven by tests/deploy/test_chart_contract.py.
    pod = platform.kubectl_json("get", "pod", f"{RELEASE}-check-writes", "-n", ns(env))
    assert pod["status"]["phase"] == "Succeeded", pod["status"]
    spec = pod["spec"]
    assert spec["activeDeadlineSeconds"] == int(CHECK_WRITES["checkWrites.activeDeadlineSeconds"])
    (container,) = spec["containers"]
    args = container["args"]
    assert args[0] == "check-writes"
    for flag, key in (("--count", "count"), ("--duration", "durationSeconds"),
                      ("--timeout", "requestTimeoutSeconds")):  # fmt: skip
        assert args[args.index(flag) + 1] == CHECK_WRITES[f"checkWrites.{key}"], args
    assert args[args.index("--url") + 1] == f"http://{RELEASE}.{ns(env)}.svc:80"
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["capabilities"]["drop"] == ["ALL"]
    assert spec["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
    assert spec["serviceAccountName"] == "default"
    namespace = platform.kubectl_json("get", "namespace", ns(env))
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    state[env]["test"] = True


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_noop_upgrade_rolls_nothing(
    platform: Platform, env: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """A docs-only commit: same values, the chart version carries another git revision."""
    needs(env, "test")
    before = snapshot(platform, env)
    chart = chart_with_version(tmp_path_factory.getbasetemp(), "0a1b2c3d4e5f")
    platform.helm_run(
        "upgrade", RELEASE, str(chart), "-n", ns(env), *values_args(env),
        "--wait", "--timeout", WAIT, timeout=HELM_TIMEOUT,
    )  # fmt: skip
    after = snapshot(platform, env)
    assert after["hashes"] == before["hashes"], "the pod template changed"
    assert after["pods"] == before["pods"], "pods were restarted"
    assert after["sa"] == before["sa"], "the ServiceAccount was re-created"

    # Every release object keeps its UID, except the dev database's migration Job, which is an
    # ordinary object named per revision by design (<fullname>-migrate-r<N>).
    def lasting(objects: dict[str, str]) -> dict[str, str]:
        return {
            k: v for k, v in objects.items() if not re.fullmatch(rf"Job/{RELEASE}-migrate-r\d+", k)
        }

    assert lasting(after["objects"]) == lasting(before["objects"]), "objects were re-created"
    assert len(lasting(after["objects"])) >= 8, after["objects"]
    state[env]["noop"] = True


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_config_upgrade_rolls_pods_after_the_migration(platform: Platform, env: str) -> None:
    needs(env, "noop")
    before = snapshot(platform, env)
    platform.helm_run(
        "upgrade", RELEASE, str(CHART), "-n", ns(env), *values_args(env, "--set", "config.logLevel=warning"),
        "--wait", "--timeout", WAIT, timeout=HELM_TIMEOUT,
    )  # fmt: skip
    after = snapshot(platform, env)
    assert after["hashes"] != before["hashes"], "a config change must roll the pods"
    assert not set(after["pods"]) & set(before["pods"]), "old pods are still there"
    assert after["sa"] == before["sa"]
    config = platform.kubectl_json("get", "configmap", RELEASE, "-n", ns(env))
    assert config["data"]["SHIPSHAPE_LOG_LEVEL"] == "warning"

    def newest_migration_done() -> dict[str, Any] | None:
        jobs = platform.kubectl_json(
            "get", "jobs", "-n", ns(env),
            "-l", f"app.kubernetes.io/instance={RELEASE},app.kubernetes.io/component=migrate",
        )["items"]  # fmt: skip
        job = max(jobs, key=lambda j: j["metadata"]["creationTimestamp"]) if jobs else None
        return job if job and job["status"].get("succeeded") == 1 else None

    # Helm's --wait does not wait for an ordinary Job (dev); a hook Job it does.
    job = wait_for(f"{env}: newest migration Job succeeded", newest_migration_done)
    replica_sets = platform.kubectl_json(
        "get",
        "rs",
        "-n",
        ns(env),
        "-l",
        f"app.kubernetes.io/instance={RELEASE},app.kubernetes.io/component=web",
    )["items"]
    new_rs = next(
        r for r in replica_sets if r["metadata"]["labels"]["pod-template-hash"] in after["hashes"]
    )
    history = yaml.safe_load(
        platform.helm_run("history", RELEASE, "-n", ns(env), "-o", "json").stdout
    )
    revision = max(int(r["revision"]) for r in history)
    if env_values(env).get("postgresql", {}).get("enabled", True) is False:
        # External database: the migration is a pre-upgrade hook; Helm applies the new pod
        # template only after it completed.
        assert job["metadata"]["annotations"]["helm.sh/hook"] == "pre-install,pre-upgrade"
        assert job["status"]["completionTime"] <= new_rs["metadata"]["creationTimestamp"]
    else:
        # Dev PostgreSQL: an ordinary Job of this revision (the database is part of the release);
        # the new pods turn ready only once the schema is at head (/readyz).
        assert job["metadata"]["name"] == f"{RELEASE}-migrate-r{revision}"
    state[env]["config_revision"] = revision
    state[env]["config"] = True


def toggles(env: str) -> list[tuple[str, list[str]]]:
    """(description, extra helm args) per mode switch; each list ends back at the env's values."""
    if env == "dev":
        return [
            ("postgresql off (external database)", [
                "--set", "postgresql.enabled=false,externalDatabase.host=db.example.internal",
                "--set", "externalDatabase.password=rehearsal-placeholder",
            ]),
            ("postgresql on again", []),
        ]  # fmt: skip
    if env == "staging":
        return [
            ("externalSecret off (chart Secret)", [
                "--set", "externalSecret.enabled=false,externalDatabase.password=rehearsal-placeholder",
            ]),
            ("externalSecret on again", []),
        ]  # fmt: skip
    return [
        ("externalSecret off, postgresql on (in-chart database)", [
            "--set", "externalSecret.enabled=false,postgresql.enabled=true,externalDatabase.host=",
        ]),
        ("externalSecret on, postgresql off again", []),
    ]  # fmt: skip


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_mode_toggles_keep_the_service_account(platform: Platform, env: str) -> None:
    needs(env, "config")
    sa = service_account_uid(platform, ns(env))
    for description, extra in toggles(env):
        platform.helm_run(
            "upgrade", RELEASE, str(CHART), "-n", ns(env), *values_args(env, "--set", "config.logLevel=warning", *extra),
            "--wait", "--timeout", WAIT, timeout=HELM_TIMEOUT,
        )  # fmt: skip
        wait_for(
            f"{env}: {description}: rollout",
            lambda: settled(platform, ns(env), expected_replicas(env)),
        )
        assert service_account_uid(platform, ns(env)) == sa, (
            f"{description}: ServiceAccount re-created"
        )
        log(f"{env}: {description}: ServiceAccount kept")
    state[env]["toggle"] = True


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_rollback(platform: Platform, env: str) -> None:
    needs(env, "toggle")
    sa = service_account_uid(platform, ns(env))
    target = state[env]["config_revision"] - 1  # the no-op upgrade's revision (logLevel default)
    platform.helm_run(
        "rollback",
        RELEASE,
        str(target),
        "-n",
        ns(env),
        "--wait",
        "--timeout",
        WAIT,
        timeout=HELM_TIMEOUT,
    )
    wait_for(f"{env}: rollback rollout", lambda: settled(platform, ns(env), expected_replicas(env)))
    config = platform.kubectl_json("get", "configmap", RELEASE, "-n", ns(env))
    assert config["data"]["SHIPSHAPE_LOG_LEVEL"] == env_values(env).get("config", {}).get(
        "logLevel", "info"
    )
    assert service_account_uid(platform, ns(env)) == sa
    state[env]["rollback"] = True


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_fresh_install_and_helm_test(platform: Platform, env: str) -> None:
    """`helm install --wait` of this chart on a namespace that never saw the previous one."""
    needs(env, "platform")
    namespace = f"{ns(env)}-fresh"
    platform.cluster.apply_manifest(yaml.safe_dump_all(platform_docs(platform, env, namespace)))
    before = (
        service_account_uid(platform, namespace) if platform_owns_service_account(env) else None
    )
    platform.helm_run(
        "install", RELEASE, str(CHART), "-n", namespace, *values_args(env),
        "--wait", "--timeout", WAIT, timeout=HELM_TIMEOUT,
    )  # fmt: skip
    wait_for(
        f"{env}: fresh install rollout",
        lambda: settled(platform, namespace, expected_replicas(env)),
    )
    accounts = platform.kubectl_json("get", "serviceaccounts", "-n", namespace)["items"]
    release_accounts = [a for a in accounts if a["metadata"]["name"] == RELEASE]
    assert len(release_accounts) == 1
    annotations = release_accounts[0]["metadata"].get("annotations") or {}
    assert "helm.sh/hook" not in annotations
    if platform_owns_service_account(env):
        # the platform layer's, untouched by the install (no stand-in, no adoption)
        assert release_accounts[0]["metadata"]["uid"] == before
        assert "meta.helm.sh/release-name" not in annotations
        assert annotations["eks.amazonaws.com/role-arn"].startswith("arn:aws:iam::")
    else:
        assert annotations["meta.helm.sh/release-name"] == RELEASE
    platform.helm_run("test", RELEASE, "-n", namespace, "--timeout", WAIT, timeout=HELM_TIMEOUT)


# --------------------------------------------------------------------------- Argo CD bootstrap


def argo_bootstrap_objects(
    p: Platform, env: str, namespace: str, tmp: Path
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The app of apps' objects (kustomize build deploy/gitops/argocd/<env>) and the chart as
    Argo CD renders it for the Application (`helm template`: every sync an install, values-<env>
    plus the Application's valuesObject), moved from namespace shipshape into `namespace`."""
    built = subprocess.run(
        [str(p.kubectl), "kustomize", str(REPO / "deploy" / "gitops" / "argocd" / env)],
        capture_output=True, text=True, timeout=60, check=True,
    ).stdout  # fmt: skip
    outer = [d for d in yaml.safe_load_all(built) if d]
    for doc in outer:
        if doc["kind"] == "Namespace":
            doc["metadata"]["name"] = namespace
        elif doc["metadata"].get("namespace") == "shipshape":
            doc["metadata"]["namespace"] = namespace
    (application,) = [d for d in outer if d["kind"] == "Application"]
    overrides = tmp / f"{env}-values-object.yaml"
    overrides.write_text(yaml.safe_dump(application["spec"]["source"]["helm"]["valuesObject"]))
    rendered = p.helm_run(
        "template", RELEASE, str(CHART), "-n", namespace, "-f", str(CHART / f"values-{env}.yaml"),
        "-f", str(overrides),
    ).stdout  # fmt: skip
    inner = [d for d in yaml.safe_load_all(rendered) if d]
    for doc in inner:
        doc["metadata"].setdefault("namespace", namespace)
    return outer, inner


def replay_sync(p: Platform, what: str, objects: list[dict[str, Any]]) -> list[str]:
    """Apply `objects` in Argo CD's order (tests/support/argocd_sync.py), each wave after the
    previous one is healthy, as its sync engine does; a Degraded object fails the sync. Returns
    the steps taken (for the log)."""
    steps = argocd_sync.plan(objects)
    taken = []
    for i, step in enumerate(steps):
        manifest = yaml.safe_dump_all(list(step.objects))
        p.cluster.apply_manifest(manifest)
        taken.append(f"{what}: {step.phase} wave {step.wave}: {', '.join(step.names())}")
        if i == len(steps) - 1 and not any(argocd_sync.is_hook(o) for o in step.objects):
            break  # the final wave is not waited for (Argo CD's rule)

        def healthy(step: argocd_sync.Step = step, manifest: str = manifest) -> bool:
            listed = p.kubectl_json("get", "-f", "-", stdin=manifest)
            live = listed.get("items", [listed])
            verdicts = {f"{o['kind']}/{o['metadata']['name']}": argocd_sync.health(o) for o in live}
            degraded = {k: v for k, v in verdicts.items() if v == "Degraded"}
            if degraded:
                conditions = [
                    (o["kind"], o["metadata"]["name"], (o.get("status") or {}).get("conditions"))
                    for o in live
                    if f"{o['kind']}/{o['metadata']['name']}" in degraded
                ]
                raise AssertionError(
                    f"{what}: {step.phase} wave {step.wave} failed, Degraded: {conditions}"
                )
            return all(v == "Healthy" for v in verdicts.values())

        wait_for(f"{what}: {step.phase} wave {step.wave} healthy", healthy, timeout=120)
    return taken


@pytest.mark.parametrize("env", [e for e in ENVIRONMENTS if e != "dev"])
def test_argo_cd_first_sync_from_an_empty_cluster(
    platform: Platform, env: str, tmp_path: Path
) -> None:
    """The first Argo CD sync of an ExternalSecret environment, replayed on the API server: the
    app of apps (namespace, ServiceAccount, SecretStore, project, repository, Application, each
    wave healthy before the next), then the chart's sync (PreSync ExternalSecret copy, migration
    Job, then the release). The SecretStore turns Ready only once its ServiceAccount exists (the
    ESO stand-in's gate), so this passes only in that order. Argo CD itself does not run here."""
    namespace = f"{ns(env)}-argo"
    platform.cluster.apply(
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "argocd"}}
    )
    outer, inner = argo_bootstrap_objects(platform, env, namespace, tmp_path)
    steps = replay_sync(platform, f"{env} app of apps", outer)
    steps += replay_sync(platform, f"{env} shipshape-{env}", inner)
    for line in steps:
        log(line)
    pods = wait_for(
        f"{env}: Argo CD sync rollout", lambda: settled(platform, namespace, expected_replicas(env))
    )
    assert pods
    sa = platform.kubectl_json("get", "serviceaccount", RELEASE, "-n", namespace)
    assert "argocd.argoproj.io/sync-wave" in sa["metadata"]["annotations"], "the platform's"
    job = platform.kubectl_json("get", "job", f"{RELEASE}-migrate", "-n", namespace)
    assert job["status"].get("succeeded") == 1


def test_argo_cd_first_sync_fails_when_the_chart_owns_the_service_account(
    platform: Platform, tmp_path: Path
) -> None:
    """The seeded mistake: the ServiceAccount back in the chart (serviceAccount.create=true, gone
    from the platform layer), as before. The app of apps' SecretStore wave can never turn
    healthy - the Application that would create the ServiceAccount comes after it - so the
    replay fails there, as Argo CD's first sync would."""
    namespace = "shipshape-prod-argo-seeded"
    platform.cluster.apply(
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "argocd"}}
    )
    outer, _ = argo_bootstrap_objects(platform, "prod", namespace, tmp_path)
    outer = [d for d in outer if d["kind"] != "ServiceAccount"]
    for doc in outer:
        if doc["kind"] == "Application":
            doc["metadata"]["name"] = "shipshape-prod-seeded"
    with pytest.raises(AssertionError) as failed:
        replay_sync(platform, "prod app of apps (seeded)", outer)
    message = str(failed.value)
    assert "SecretStore" in message, message
    assert "Degraded" in message, message
    assert "not found" in message, message
    # The sync stopped at the SecretStore: the Application (last wave) was never created.
    missing = subprocess.run(
        [str(platform.kubectl), "get", "applications.argoproj.io", "shipshape-prod-seeded",
         "-n", "argocd"],
        capture_output=True, text=True, timeout=60, env=platform.cluster.env,
    )  # fmt: skip
    assert missing.returncode != 0
    assert "NotFound" in missing.stderr or "not found" in missing.stderr, missing.stderr
    log(f"seeded: {message[:200]}")


# --------------------------------------------------------------------------- failure mode


def test_cluster_missing_a_crd_the_values_need_fails_the_install(platform: Platform) -> None:
    """Runs last: removes the ExternalSecret CRD (the other add-on CRDs stay), so this cluster
    lacks one kind values-staging.yaml renders; the install must fail on it. Monitoring forced
    on (rendered as if the Prometheus Operator were there) fails the same way."""
    crd = "externalsecrets.external-secrets.io"
    subprocess.run(
        [str(platform.kubectl), "delete", "crd", crd, "--wait=true", "--timeout=120s"],
        capture_output=True, text=True, timeout=180, check=True, env=platform.cluster.env,
    )  # fmt: skip
    wait_for(
        "ExternalSecret gone from discovery",
        lambda: (
            not any(
                r["kind"] == "ExternalSecret"
                for r in (
                    platform.cluster.get_or_none("/apis/external-secrets.io/v1")
                    or {"resources": []}
                )["resources"]
            )
        ),
    )
    namespace = "shipshape-missing-crd"
    platform.cluster.apply(
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {
                "name": namespace,
                "labels": {"pod-security.kubernetes.io/enforce": "restricted"},
            },
        }
    )
    done = platform.helm_run(
        "install", RELEASE, str(CHART), "-n", namespace, *values_args("staging"),
        "--wait", "--timeout", "60s", timeout=HELM_TIMEOUT, check=False,
    )  # fmt: skip
    assert done.returncode != 0, "the install succeeded on a cluster without the ExternalSecret CRD"
    assert "ExternalSecret" in done.stderr, done.stderr
    # Monitoring forced on: the objects rendered for a cluster that serves them, applied to this one.
    rendered = platform.helm_run(
        "template", RELEASE, str(CHART), "-n", namespace, *values_args("prod", "--set", "externalSecret.enabled=false,externalDatabase.password=x"),
        "--api-versions", "monitoring.coreos.com/v1/ServiceMonitor",
        "--api-versions", "monitoring.coreos.com/v1/PrometheusRule",
    ).stdout  # fmt: skip
    assert "kind: ServiceMonitor" in rendered
    applied = subprocess.run(
        [str(platform.kubectl), "apply", "--dry-run=server", "-n", namespace, "-f", "-"],
        input=rendered, capture_output=True, text=True, timeout=120, env=platform.cluster.env,
    )  # fmt: skip
    assert applied.returncode != 0
    assert 'no matches for kind "ServiceMonitor"' in applied.stderr, applied.stderr
