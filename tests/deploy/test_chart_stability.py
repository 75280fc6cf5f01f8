"""Chart defects found by the deploy rehearsal (issue 21), each proven on rendered output:
pod templates that change with the chart version, random values in templates, a ServiceAccount
that is a hook, a hard per-node spread, Argo CD ignoring replicas with no HPA, DNS egress that
NodeLocal DNSCache breaks, drain timing against the grace period and the ALB deregistration
delay, and monitoring objects rendered on clusters without the Prometheus Operator.

The rehearsal on a real control plane (tests/cluster) installs, upgrades and rolls back the same
chart; these render-level checks pin each defect to a small, fast test."""

from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path
from typing import Any

import helm_python as helm
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "shipshape"
ENVIRONMENTS = ("dev", "staging", "prod")
MONITORING = ("monitoring.coreos.com/v1/ServiceMonitor", "monitoring.coreos.com/v1/PrometheusRule")
NODE_LOCAL_DNS = "169.254.20.10/32"


def env_values(env: str) -> dict[str, Any]:
    return yaml.safe_load((CHART / f"values-{env}.yaml").read_text()) or {}


def merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def render_texts(
    values: dict[str, Any],
    *,
    chart_dir: Path = CHART,
    upgrade: bool = False,
    api_versions: tuple[str, ...] = (),
) -> dict[str, str]:
    chart = helm.Chart.load(chart_dir)
    opts = {
        "name": "shipshape",
        "namespace": "shipshape",
        "kube_version": "v1.37.0",
        "is_install": not upgrade,
        "is_upgrade": upgrade,
        "revision": 2 if upgrade else 1,
        "api_versions": list(api_versions),
    }
    out = helm._native.call_string(
        "helm_render", chart._raw(), json.dumps(values), json.dumps(opts)
    )
    return {k: v for k, v in json.loads(out).items() if v.strip()}


def objects_of(texts: dict[str, str]) -> list[dict[str, Any]]:
    return [
        d
        for path, text in sorted(texts.items())
        if not path.endswith("NOTES.txt")
        for d in yaml.safe_load_all(text)
        if d
    ]


def is_hook(obj: dict[str, Any]) -> bool:
    return "helm.sh/hook" in (obj["metadata"].get("annotations") or {})


def pod_templates(objects: list[dict[str, Any]]) -> dict[str, str]:
    """Every pod template of the release's workloads, as canonical YAML."""
    found = {}
    for obj in objects:
        spec = obj.get("spec", {})
        if obj["kind"] in ("Deployment", "StatefulSet", "Job"):
            template = spec["template"]
        elif obj["kind"] == "CronJob":
            template = spec["jobTemplate"]["spec"]["template"]
        else:
            continue
        found[f"{obj['kind']}/{obj['metadata']['name']}"] = yaml.safe_dump(template, sort_keys=True)
    return found


def chart_copy(tmp_path: Path, version: str) -> Path:
    """The chart as Flux packages it from Git (reconcileStrategy Revision: version+revision)."""
    dest = tmp_path / f"chart-{version}"
    shutil.copytree(CHART, dest)
    meta = yaml.safe_load((dest / "Chart.yaml").read_text())
    meta["version"] = version
    (dest / "Chart.yaml").write_text(yaml.safe_dump(meta, sort_keys=False))
    return dest


# --------------------------------------------------------------------------- pod templates


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_pod_templates_do_not_change_with_the_chart_version(env: str, tmp_path: Path) -> None:
    """A docs-only commit becomes chart version 0.x.y+<revision> under Flux: it must not change a
    single byte of any pod template (else every pod rolls, the hook reruns, helm test runs)."""
    base = yaml.safe_load((CHART / "Chart.yaml").read_text())["version"]
    renders = [
        pod_templates(objects_of(render_texts(env_values(env), chart_dir=chart_copy(tmp_path, v))))
        for v in (f"{base}+0123456789ab", f"{base}+fedcba987654", "99.1.0")
    ]
    assert renders[0], "no pod template rendered"
    for other in renders[1:]:
        assert other == renders[0]


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_pod_templates_carry_only_selector_and_component_labels(env: str) -> None:
    allowed = {
        "app.kubernetes.io/name",
        "app.kubernetes.io/instance",
        "app.kubernetes.io/component",
    }
    objects = objects_of(render_texts(env_values(env)))
    for name, text in pod_templates(objects).items():
        labels = set(yaml.safe_load(text)["metadata"]["labels"])
        assert labels == allowed, f"{name}: {sorted(labels)}"


# --------------------------------------------------------------------------- determinism


@pytest.mark.parametrize("env", ENVIRONMENTS)
@pytest.mark.parametrize("upgrade", [False, True], ids=["install", "upgrade"])
def test_two_renders_are_byte_identical(env: str, upgrade: bool) -> None:
    """No random value in any template (Argo CD renders on every refresh: a random dev password
    is permanently OutOfSync and, after a sync, no longer the database's)."""
    first = render_texts(env_values(env), upgrade=upgrade)
    second = render_texts(env_values(env), upgrade=upgrade)
    assert first == second


def test_dev_password_is_derived_per_release() -> None:
    def password(namespace: str) -> str:
        chart = helm.Chart.load(CHART)
        opts = {"name": "shipshape", "namespace": namespace, "kube_version": "v1.37.0"}
        out = json.loads(
            helm._native.call_string(
                "helm_render", chart._raw(), json.dumps(env_values("dev")), json.dumps(opts)
            )
        )
        secret = next(d for d in yaml.safe_load_all(out["shipshape/templates/secret.yaml"]) if d)
        return str(secret["data"]["database-password"])

    assert password("a") == password("a")
    assert password("a") != password("b")


# --------------------------------------------------------------------------- ServiceAccount


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_service_account_is_never_a_hook_on_upgrade(env: str) -> None:
    """Upgrades (and mode toggles, which are upgrades) render exactly one ServiceAccount, an
    ordinary release object: Helm never deletes and re-creates it, so the UID the pods' tokens
    are bound to stays."""
    for toggle in ({}, {"externalSecret": {"enabled": False}}, {"migration": {"enabled": False}}):
        values = merge(env_values(env), toggle)
        if toggle.get("externalSecret") and env != "dev":
            values = merge(values, {"externalDatabase": {"password": "not-a-real-one"}})
        accounts = [
            o
            for o in objects_of(render_texts(values, upgrade=True))
            if o["kind"] == "ServiceAccount"
        ]
        if values.get("serviceAccount", {}).get("create", True) is False:
            # staging, prod: the platform layer owns it (deploy/gitops/platform/<env>)
            assert accounts == [], accounts
            continue
        assert len(accounts) == 1, accounts
        assert not is_hook(accounts[0]), accounts[0]["metadata"]["annotations"]


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_service_account_stand_in_only_on_first_install(env: str) -> None:
    """With an ExternalSecret and the migration hook, the first install needs the ServiceAccount
    the SecretStore authenticates as before any release object exists: a pre-install-only
    stand-in, deleted once the hooks succeeded (hook-succeeded), never pre-upgrade."""
    values = env_values(env)
    if values.get("serviceAccount", {}).get("create", True) is False:
        # staging, prod: the platform layer's ServiceAccount exists before any sync; the chart
        # renders none, so no stand-in either. The chart-owned mode, with an ExternalSecret:
        values = merge(values, {"serviceAccount": {"create": True}})
    objects = objects_of(render_texts(values))
    accounts = [o for o in objects if o["kind"] == "ServiceAccount"]
    release = [a for a in accounts if not is_hook(a)]
    assert len(release) == 1
    stand_ins = [a for a in accounts if is_hook(a)]
    if values.get("externalSecret", {}).get("enabled"):
        assert len(stand_ins) == 1
        notes = stand_ins[0]["metadata"]["annotations"]
        assert notes["helm.sh/hook"] == "pre-install"
        assert "hook-succeeded" in notes["helm.sh/hook-delete-policy"]
        assert notes["argocd.argoproj.io/hook"] == "Skip"
        secret_copy = next(o for o in objects if o["kind"] == "ExternalSecret" and is_hook(o))
        assert int(notes["helm.sh/hook-weight"]) < int(
            secret_copy["metadata"]["annotations"]["helm.sh/hook-weight"]
        )
    else:
        assert stand_ins == []


# --------------------------------------------------------------------------- scheduling


def deployment(objects: list[dict[str, Any]]) -> dict[str, Any]:
    return next(o for o in objects if o["kind"] == "Deployment")


def test_prod_spread_is_hard_on_zones_only() -> None:
    spec = deployment(objects_of(render_texts(env_values("prod"))))["spec"]["template"]["spec"]
    modes = {c["topologyKey"]: c["whenUnsatisfiable"] for c in spec["topologySpreadConstraints"]}
    assert modes == {
        "topology.kubernetes.io/zone": "DoNotSchedule",
        "kubernetes.io/hostname": "ScheduleAnyway",
    }


def test_argocd_ignores_replicas_only_where_an_hpa_owns_them() -> None:
    for env in ENVIRONMENTS:
        app = yaml.safe_load(
            (ROOT / "deploy" / "gitops" / "argocd" / env / "application.yaml").read_text()
        )
        values = merge(yaml.safe_load((CHART / "values.yaml").read_text()), env_values(env))
        pointers = [
            p
            for d in app["spec"].get("ignoreDifferences", [])
            if d.get("kind") == "Deployment"
            for p in d.get("jsonPointers", [])
        ]
        assert ("/spec/replicas" in pointers) == bool(values["autoscaling"]["enabled"]), env


# --------------------------------------------------------------------------- network


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_dns_egress_reaches_node_local_dns_cache(env: str) -> None:
    """NodeLocal DNSCache answers from a host-network address on the node (169.254.20.10),
    which a kube-dns pod selector never matches: every policy that allows DNS allows it."""
    policies = [
        o for o in objects_of(render_texts(env_values(env))) if o["kind"] == "NetworkPolicy"
    ]
    checked = 0
    for policy in policies:
        for rule in policy["spec"].get("egress", []):
            ports = {(p["protocol"], p["port"]) for p in rule.get("ports", [])}
            if ("UDP", 53) not in ports:
                continue
            assert ("TCP", 53) in ports
            cidrs = {peer["ipBlock"]["cidr"] for peer in rule.get("to", []) if "ipBlock" in peer}
            assert NODE_LOCAL_DNS in cidrs, policy["metadata"]["name"]
            checked += 1
    assert checked >= 2, "no DNS egress rule found"


# --------------------------------------------------------------------------- drain timing


def timing(
    env: str, override: dict[str, Any] | None = None
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    values = merge(yaml.safe_load((CHART / "values.yaml").read_text()), env_values(env))
    values = merge(values, override or {})
    return values, objects_of(render_texts(merge(env_values(env), override or {})))


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_grace_period_is_derived_from_one_shutdown_budget(env: str) -> None:
    values, objects = timing(env)
    pod = deployment(objects)["spec"]["template"]["spec"]
    config = next(o for o in objects if o["kind"] == "ConfigMap")["data"]
    pre_stop = pod["containers"][0]["lifecycle"]["preStop"]["sleep"]["seconds"]
    budget = (
        pre_stop
        + int(config["SHIPSHAPE_DRAIN_SECONDS"])
        + int(config["SHIPSHAPE_SHUTDOWN_TIMEOUT_SECONDS"])
    )
    assert pod["terminationGracePeriodSeconds"] == budget + values["shutdownMarginSeconds"]
    # Derived, not a second number to keep in step: a longer drain lengthens the grace period.
    _, longer = timing(env, {"config": {"drainSeconds": 20}})
    assert deployment(longer)["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] == (
        pod["terminationGracePeriodSeconds"] + 20 - int(config["SHIPSHAPE_DRAIN_SECONDS"])
    )


@pytest.mark.parametrize("env", ["staging", "prod"])
def test_alb_deregistration_delay_is_covered_by_the_drain(env: str) -> None:
    values, objects = timing(env)
    ingress = next(o for o in objects if o["kind"] == "Ingress")
    assert ingress["spec"]["ingressClassName"] == "alb"
    attributes = dict(
        a.split("=", 1)
        for a in ingress["metadata"]["annotations"][
            "alb.ingress.kubernetes.io/target-group-attributes"
        ].split(",")
    )
    delay = int(attributes["deregistration_delay.timeout_seconds"])
    assert delay == values["ingress"]["alb"]["deregistrationDelaySeconds"]
    pod = deployment(objects)["spec"]["template"]["spec"]
    pre_stop = pod["containers"][0]["lifecycle"]["preStop"]["sleep"]["seconds"]
    config = next(o for o in objects if o["kind"] == "ConfigMap")["data"]
    assert pre_stop + int(config["SHIPSHAPE_DRAIN_SECONDS"]) >= delay


@pytest.mark.parametrize(
    ("override", "message"),
    [
        (
            {"ingress": {"alb": {"deregistrationDelaySeconds": 300}}},
            "deregistrationDelaySeconds=300 exceeds",
        ),
        ({"terminationGracePeriodSeconds": 10}, "terminationGracePeriodSeconds=10 is too short"),
        (
            {
                "ingress": {
                    "annotations": {
                        "alb.ingress.kubernetes.io/target-group-attributes": "deregistration_delay.timeout_seconds=5"
                    }
                }
            },
            "ingress.alb.deregistrationDelaySeconds",
        ),
    ],
    ids=["delay-longer-than-drain", "grace-too-short", "delay-in-annotation"],
)
def test_seeded_timing_mistakes_fail_the_render(override: dict[str, Any], message: str) -> None:
    with pytest.raises(Exception, match=message):
        render_texts(merge(env_values("prod"), override))


# --------------------------------------------------------------------------- optional CRDs


@pytest.mark.parametrize("env", ["staging", "prod"])
def test_monitoring_objects_only_where_the_operator_api_is_served(env: str) -> None:
    without = render_texts(env_values(env))
    kinds = {o["kind"] for o in objects_of(without)}
    assert not kinds & {"ServiceMonitor", "PrometheusRule"}
    notes = without["shipshape/templates/NOTES.txt"]
    assert "serves no monitoring.coreos.com/v1 ServiceMonitor" in notes
    assert "serves no monitoring.coreos.com/v1 PrometheusRule" in notes
    with_api = render_texts(env_values(env), api_versions=MONITORING)
    kinds = {o["kind"] for o in objects_of(with_api)}
    assert {"ServiceMonitor", "PrometheusRule"} <= kinds
    assert "serves no monitoring" not in with_api["shipshape/templates/NOTES.txt"]
