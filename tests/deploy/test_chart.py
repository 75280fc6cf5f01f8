"""charts/shipshape, proven offline: Helm rendering and lint (helm-python-sdk, Helm v4 as a
library), the real Kubernetes API schemas (kubernetes-validate --strict) at the oldest and newest
supported versions, field checks of the custom resources, checkov on the rendered manifests,
values.schema.json and template guards on invalid values, and the generated README."""

from __future__ import annotations

import copy
import functools
import json
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import helm_python as helm
import jsonschema
import kubernetes_validate
import pytest
import yaml

from tests.support import crds
from tests.support.tools import unavailable

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "shipshape"
VENV_BIN = Path(sys.executable).parent
RELEASE, NAMESPACE = "demo", "apps"

CRD_KINDS = {"ServiceMonitor", "PrometheusRule", "HTTPRoute", "ExternalSecret"}
K8S_SCHEMAS = Path(kubernetes_validate.__file__).parent / "kubernetes-json-schema"


# --------------------------------------------------------------------------- helpers


def deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Helm's merge of several -f files: maps merge recursively, everything else replaces."""
    out = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def values_file(name: str) -> dict[str, Any]:
    return yaml.safe_load((CHART / name).read_text()) or {}


def kube_versions() -> tuple[str, str]:
    """Oldest version allowed by Chart.yaml kubeVersion, newest schema kubernetes-validate has."""
    constraint = yaml.safe_load((CHART / "Chart.yaml").read_text())["kubeVersion"]
    match = re.fullmatch(r">=\s*(\d+)\.(\d+)\.\d+(-0)?", constraint)
    assert match, f"kubeVersion {constraint!r} is not a plain lower bound"
    oldest = f"{match[1]}.{match[2]}"
    known = sorted(
        (tuple(int(p) for p in d.name[1:].split("-")[0].split(".")[:2]))
        for d in K8S_SCHEMAS.iterdir()
        if d.name.endswith("-local-strict")
    )
    newest = "{}.{}".format(*known[-1])
    assert tuple(int(p) for p in oldest.split(".")) in known, f"no schema for {oldest}"
    return oldest, newest


OLDEST, NEWEST = kube_versions()


@functools.cache
def _chart() -> helm.Chart:
    return helm.Chart.load(CHART)


# The optional APIs the chart checks with .Capabilities.APIVersions.Has: rendered as on a cluster
# that serves them all (tests/deploy/test_chart_rehearsal_fixes.py renders without them too).
OPTIONAL_APIS = (
    "monitoring.coreos.com/v1/ServiceMonitor",
    "monitoring.coreos.com/v1/PrometheusRule",
)


def render_raw(
    values: dict[str, Any],
    *,
    kube_version: str = OLDEST,
    revision: int = 1,
    api_versions: tuple[str, ...] = OPTIONAL_APIS,
) -> dict[str, str]:
    opts = {
        "name": RELEASE,
        "namespace": NAMESPACE,
        "kube_version": f"v{kube_version}.0",
        "is_install": revision == 1,
        "is_upgrade": revision > 1,
        "revision": revision,
        "api_versions": list(api_versions),
    }
    out = helm._native.call_string(
        "helm_render", _chart()._raw(), json.dumps(values), json.dumps(opts)
    )
    return {k: v for k, v in json.loads(out).items() if v.strip()}


def render(values: dict[str, Any], **kwargs: Any) -> list[dict[str, Any]]:
    """Every rendered Kubernetes object (NOTES.txt excluded)."""
    objects = []
    for path, text in sorted(render_raw(values, **kwargs).items()):
        if path.endswith("NOTES.txt"):
            continue
        for doc in yaml.safe_load_all(text):
            if doc:
                doc.setdefault("metadata", {}).setdefault("annotations", {})
                doc["_template"] = path
                objects.append(doc)
    return objects


def strip(obj: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in obj.items() if k != "_template"}
    if not out["metadata"]["annotations"]:
        out["metadata"] = {k: v for k, v in out["metadata"].items() if k != "annotations"}
    return out


def find(objects: list[dict[str, Any]], kind: str, name: str | None = None) -> list[dict]:
    return [
        o for o in objects if o["kind"] == kind and (name is None or o["metadata"]["name"] == name)
    ]


def one(objects: list[dict[str, Any]], kind: str, name: str | None = None) -> dict[str, Any]:
    found = find(objects, kind, name)
    assert len(found) == 1, (
        f"expected one {kind} {name or ''}, got {[o['metadata']['name'] for o in found]}"
    )
    return found[0]


def hook(obj: dict[str, Any]) -> str | None:
    return obj["metadata"]["annotations"].get("helm.sh/hook")


# --------------------------------------------------------------------------- scenarios

PROD = values_file("values-prod.yaml")
EVERYTHING_ON = deep_merge(
    PROD,
    {
        "image": {
            "digest": "sha256:" + "a" * 64,
            "pullPolicy": "Always",
        },
        "externalSecret": {"adminToken": {"key": "shipshape/prod/admin", "property": "token"}},
        "autoscaling": {"customMetric": {"enabled": True}},
        # Optional edges prod does not use (they need controllers infra/terraform does not
        # install): a Gateway API HTTPRoute and cert-manager TLS on the Ingress.
        "httpRoute": {
            "enabled": True,
            "parentRefs": [
                {"name": "public", "namespace": "gateway-system", "sectionName": "https"}
            ],
            "hostnames": ["shipshape.example.com"],
        },
        "ingress": {"tls": {"enabled": True}, "certManager": {"enabled": True}},
        "resources": {"limits": {"cpu": "1"}},
        "jobs": {"resources": {"limits": {"cpu": "500m"}}},
        "extraEnv": [{"name": "OTEL_RESOURCE_ATTRIBUTES", "value": "team=platform"}],
        "tolerations": [
            {"key": "dedicated", "operator": "Equal", "value": "apps", "effect": "NoSchedule"}
        ],
        "affinity": {
            "nodeAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": {
                    "nodeSelectorTerms": [
                        {
                            "matchExpressions": [
                                {
                                    "key": "kubernetes.io/arch",
                                    "operator": "In",
                                    "values": ["amd64", "arm64"],
                                }
                            ]
                        }
                    ]
                }
            }
        },
        "nodeSelector": {"kubernetes.io/os": "linux"},
        "priorityClassName": "high",
        "podAnnotations": {"example.com/team": "platform"},
        "commonLabels": {"example.com/cost-center": "42"},
        "commonAnnotations": {"example.com/owner": "platform"},
        "config": {"otelEndpoint": "http://otel-collector.observability:4318"},
        "networkPolicy": {
            "extraEgress": [
                {
                    "to": [
                        {
                            "namespaceSelector": {
                                "matchLabels": {"kubernetes.io/metadata.name": "observability"}
                            }
                        }
                    ],
                    "ports": [{"port": 4318, "protocol": "TCP"}],
                }
            ]
        },
        "prune": {"dryRun": True},
        "checkWrites": {"enabled": True},
        # the chart-owned ServiceAccount with IRSA (prod's comes from the platform layer)
        "serviceAccount": {
            "create": True,
            "awsRoleArn": "arn:aws:iam::333333333333:role/shipshape-prod-app",
        },
    },
)
EVERYTHING_OFF = {
    "postgresql": {"enabled": False},
    "externalDatabase": {"host": "db.internal", "password": "not-a-real-password"},
    "ingress": {"enabled": False},
    "httpRoute": {"enabled": False},
    "autoscaling": {"enabled": False},
    "podDisruptionBudget": {"enabled": False},
    "networkPolicy": {"enabled": False},
    "metrics": {"serviceMonitor": {"enabled": False}, "prometheusRule": {"enabled": False}},
    "migration": {"enabled": False},
    "prune": {"enabled": False},
    "helmTest": {"enabled": False},
    "serviceAccount": {"create": False},
    "topologySpread": {"enabled": False},
    "preStopSleepSeconds": 0,
}
SCENARIOS: dict[str, dict[str, Any]] = {
    "defaults": {},
    "dev": values_file("values-dev.yaml"),
    "staging": values_file("values-staging.yaml"),
    "prod": PROD,
    "everything-on": EVERYTHING_ON,
    "everything-off": EVERYTHING_OFF,
    "existing-secret": {
        "postgresql": {"enabled": False},
        "externalDatabase": {"host": "db.internal", "scheme": "mysql", "port": 3306},
        "secrets": {"existingSecret": "shipshape-credentials"},
    },
    "dev-persistent-with-token": deep_merge(
        values_file("values-dev.yaml"),
        {
            "postgresql": {
                "persistence": {"enabled": True, "storageClass": "standard"},
                "auth": {"password": "dev-password"},
            },
            "secrets": {"adminToken": "a-long-enough-operator-token"},
            "ingress": {
                "enabled": True,
                "hosts": ["shipshape.localtest.me"],
                "tls": {"enabled": False},
            },
        },
    ),
}

# Which objects each optional feature adds: (scenario where on, scenario where off).
FEATURES = {
    ("Ingress", None): ("prod", "defaults"),
    ("HTTPRoute", None): ("everything-on", "prod"),
    ("HorizontalPodAutoscaler", None): ("prod", "defaults"),
    ("PodDisruptionBudget", None): ("defaults", "everything-off"),
    ("NetworkPolicy", None): ("defaults", "everything-off"),
    ("ServiceMonitor", None): ("prod", "defaults"),
    ("PrometheusRule", None): ("prod", "defaults"),
    ("ExternalSecret", None): ("prod", "defaults"),
    ("Job", None): ("defaults", "everything-off"),
    ("CronJob", None): ("defaults", "everything-off"),
    ("Pod", None): ("defaults", "everything-off"),
    ("ServiceAccount", None): ("defaults", "everything-off"),
    ("StatefulSet", None): ("defaults", "prod"),
    ("Secret", None): ("defaults", "existing-secret"),
}


# One optional feature switched against the defaults at a time (the scenarios above switch them
# all together): each must render, lint cleanly and add or remove exactly its objects.
EXTERNAL_DB = {
    "postgresql": {"enabled": False},
    "externalDatabase": {"host": "db", "password": "pw"},
}
TOGGLES: dict[str, tuple[dict[str, Any], str, int]] = {
    "ingress": ({"ingress": {"enabled": True, "hosts": ["a.example.com"]}}, "Ingress", 1),
    "httpRoute": ({"httpRoute": {"enabled": True, "parentRefs": [{"name": "gw"}]}}, "HTTPRoute", 1),
    "autoscaling": ({"autoscaling": {"enabled": True}}, "HorizontalPodAutoscaler", 1),
    "podDisruptionBudget": ({"podDisruptionBudget": {"enabled": False}}, "PodDisruptionBudget", -1),
    "networkPolicy": ({"networkPolicy": {"enabled": False}}, "NetworkPolicy", -4),
    "serviceMonitor": ({"metrics": {"serviceMonitor": {"enabled": True}}}, "ServiceMonitor", 1),
    "prometheusRule": ({"metrics": {"prometheusRule": {"enabled": True}}}, "PrometheusRule", 1),
    "migration": ({"migration": {"enabled": False}}, "Job", -1),
    "prune": ({"prune": {"enabled": False}}, "CronJob", -1),
    "helmTest": ({"helmTest": {"enabled": False}}, "Pod", -1),
    "serviceAccount": ({"serviceAccount": {"create": False}}, "ServiceAccount", -1),
    "postgresql": (EXTERNAL_DB, "StatefulSet", -1),
    "existingSecret": (
        {**EXTERNAL_DB, "externalDatabase": {"host": "db"}, "secrets": {"existingSecret": "s"}},
        "Secret",
        -1,
    ),
    "externalSecret": (
        {
            **EXTERNAL_DB,
            "externalDatabase": {"host": "db"},
            "externalSecret": {"enabled": True, "databasePassword": {"key": "k"}},
        },
        "ExternalSecret",
        2,
    ),
}


@pytest.mark.parametrize("toggle", TOGGLES)
def test_single_feature_toggle(toggle: str) -> None:
    values, kind, delta = TOGGLES[toggle]
    before = len(find(rendered("defaults"), kind))
    assert len(find(render(values), kind)) == before + delta
    report = helm.lint(CHART, values, strict=True, kube_version=f"v{OLDEST}.0")
    assert not [m for m in report["messages"] if m["severity"] >= 2], report["messages"]


@functools.cache
def rendered(scenario: str) -> list[dict[str, Any]]:
    return render(SCENARIOS[scenario])


# --------------------------------------------------------------------------- render matrix


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_render_scenario(scenario: str) -> None:
    objects = rendered(scenario)
    kinds = {o["kind"] for o in objects}
    assert {"Deployment", "Service", "ConfigMap"} <= kinds
    for obj in objects:
        labels = obj["metadata"]["labels"]
        for key in (
            "app.kubernetes.io/name",
            "app.kubernetes.io/instance",
            "app.kubernetes.io/version",
            "app.kubernetes.io/managed-by",
            "helm.sh/chart",
        ):
            assert key in labels, f"{obj['kind']}/{obj['metadata']['name']} lacks label {key}"
        assert obj["metadata"]["namespace"] == NAMESPACE
    # Release objects are unique, and so are hooks; a hook may stand in for a release object of
    # the same name (the first install's ServiceAccount, see templates/serviceaccount.yaml).
    for group in (
        [o for o in objects if hook(o) is None],
        [o for o in objects if hook(o) is not None],
    ):
        names = [(o["kind"], o["metadata"]["name"]) for o in group]
        assert len(names) == len(set(names)), f"duplicate objects: {names}"


@pytest.mark.parametrize(
    ("kind", "on", "off"), [(k, on, off) for (k, _), (on, off) in FEATURES.items()]
)
def test_feature_switches(kind: str, on: str, off: str) -> None:
    assert find(rendered(on), kind), f"{kind} missing in scenario {on}"
    assert not find(rendered(off), kind), f"{kind} rendered in scenario {off}"


@pytest.mark.parametrize("scenario", SCENARIOS)
@pytest.mark.parametrize("kube_version", [OLDEST, NEWEST])
def test_helm_lint_strict(scenario: str, kube_version: str) -> None:
    report = helm.lint(
        CHART, SCENARIOS[scenario] or None, strict=True, kube_version=f"v{kube_version}.0"
    )
    assert report["total_charts_linted"] == 1
    problems = [m for m in report["messages"] if m["severity"] >= 2]
    assert not problems, problems
    assert not report["errors"], report["errors"]


def test_kube_version_constraint_is_enforced() -> None:
    with pytest.raises(helm.HelmError, match=r"needs kubeVersion >=1\.30"):
        render({}, kube_version="1.29")


def test_secure_defaults() -> None:
    objects = rendered("defaults")
    deployment = one(objects, "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert pod["automountServiceAccountToken"] is False
    workloads = [deployment, *find(objects, "Job"), *find(objects, "StatefulSet")]
    pod_specs = [w["spec"]["template"]["spec"] for w in workloads]
    pod_specs += [
        c["spec"]["jobTemplate"]["spec"]["template"]["spec"] for c in find(objects, "CronJob")
    ]
    pod_specs += [p["spec"] for p in find(objects, "Pod")]
    assert len(pod_specs) == 5
    for spec in pod_specs:
        for container in spec["containers"]:
            sc = container["securityContext"]
            assert sc["allowPrivilegeEscalation"] is False
            assert sc["readOnlyRootFilesystem"] is True
            assert sc["capabilities"]["drop"] == ["ALL"]
            assert sc["runAsNonRoot"] is True
            assert container["resources"]["requests"]["cpu"]
            assert container["resources"]["limits"]["memory"]
            mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
            assert "/tmp" in mounts
            assert "emptyDir" in next(v for v in spec["volumes"] if v["name"] == mounts["/tmp"])
            assert not any(
                "secretKeyRef" in (e.get("valueFrom") or {}) for e in container.get("env", [])
            )
    container = pod["containers"][0]
    assert container["image"] == f"{values['image']['repository']}:{chart['appVersion']}"
    assert container["ports"] == [{"name": "http", "containerPort": 8000, "protocol": "TCP"}]
    assert container["startupProbe"]["httpGet"] == {"path": "/livez", "port": "http"}
    assert container["livenessProbe"]["httpGet"] == {"path": "/livez", "port": "http"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    config = one(objects, "ConfigMap")["data"]
    sleep = container["lifecycle"]["preStop"]["sleep"]["seconds"]
    budget = (
        sleep
        + int(config["SHIPSHAPE_DRAIN_SECONDS"])
        + int(config["SHIPSHAPE_SHUTDOWN_TIMEOUT_SECONDS"])
    )
    assert pod["terminationGracePeriodSeconds"] >= budget + 5
    keys = {c["topologyKey"] for c in pod["topologySpreadConstraints"]}
    assert keys == {"topology.kubernetes.io/zone", "kubernetes.io/hostname"}
    assert (
        one(objects, "PodDisruptionBudget")["spec"]["unhealthyPodEvictionPolicy"] == "AlwaysAllow"
    )


def test_image_digest_and_tag() -> None:
    digest = "sha256:" + "b" * 64
    objects = render({"image": {"digest": digest, "tag": "1.2.3"}})
    images = {
        c["image"]
        for o in objects
        if o["kind"] == "Deployment"
        for c in o["spec"]["template"]["spec"]["containers"]
    }
    assert images == {f"ghcr.io/shipshape/shipshape@{digest}"}
    objects = render({"image": {"tag": "1.2.3"}})
    assert one(objects, "Deployment")["spec"]["template"]["spec"]["containers"][0][
        "image"
    ].endswith(":1.2.3")


def test_migration_hook_and_secret_copies() -> None:
    """External database: the migration Job is a pre-install/pre-upgrade hook and everything it
    reads exists at that moment (hook copies of the Secret/ExternalSecret with a lower weight)."""
    for scenario in ("prod", "everything-on", "existing-secret"):
        objects = rendered(scenario)
        job = one(objects, "Job")
        assert hook(job) == "pre-install,pre-upgrade"
        assert job["spec"]["template"]["spec"]["containers"][0]["args"][0] == "migrate"
        assert "envFrom" not in job["spec"]["template"]["spec"]["containers"][0]
        volume = next(
            v for v in job["spec"]["template"]["spec"]["volumes"] if v["name"] == "secrets"
        )
        secret_name = volume["projected"]["sources"][0]["secret"]["name"]
        if scenario == "existing-secret":
            assert secret_name == "shipshape-credentials"
            continue
        provider = [
            o
            for o in objects
            if o["kind"] in ("Secret", "ExternalSecret") and o["metadata"]["name"] == secret_name
        ]
        assert len(provider) == 1
        assert hook(provider[0]) == "pre-install,pre-upgrade"
        assert int(provider[0]["metadata"]["annotations"]["helm.sh/hook-weight"]) < int(
            job["metadata"]["annotations"]["helm.sh/hook-weight"]
        )
        assert job["spec"]["template"]["spec"]["serviceAccountName"] == "default"
        # The hook ExternalSecret is synced by a SecretStore that authenticates as the app's
        # ServiceAccount: on a first install a pre-install stand-in exists before that copy (a
        # lower weight); the release's own ServiceAccount is an ordinary object.
        accounts = find(objects, "ServiceAccount")
        if scenario == "prod":
            # prod: the platform layer owns it (deploy/gitops/platform/prod), before any sync
            assert accounts == []
            assert SCENARIOS[scenario]["serviceAccount"]["create"] is False
            continue
        assert [hook(a) for a in accounts if hook(a) is not None] == ["pre-install"]
        (stand_in,) = [a for a in accounts if hook(a) is not None]
        assert int(stand_in["metadata"]["annotations"]["helm.sh/hook-weight"]) < int(
            provider[0]["metadata"]["annotations"]["helm.sh/hook-weight"]
        )
        assert len([a for a in accounts if hook(a) is None]) == 1, "the pods run as it"
    # Without an ExternalSecret the ServiceAccount is an ordinary release object.
    for scenario in ("defaults", "existing-secret", "dev"):
        assert hook(one(rendered(scenario), "ServiceAccount")) is None
    # In-chart dev PostgreSQL: an ordinary Job per revision (the database must exist first).
    job = one(render({}, revision=3), "Job")
    assert hook(job) is None
    assert job["metadata"]["name"].endswith("-migrate-r3")


def test_migration_waits_for_its_database_within_a_bound() -> None:
    """The migration Job may start before its database answers (the dev StatefulSet, an RDS
    instance still coming up): `shipshape migrate --wait N` retries for at most N seconds, then
    fails with one line naming the host, well inside the Job's own deadline."""
    for scenario in ("defaults", "dev", "staging", "prod"):
        job = one(rendered(scenario), "Job")
        container = job["spec"]["template"]["spec"]["containers"][0]
        assert container["command"] == ["shipshape"]
        assert container["args"] == ["migrate", "--wait", "60"], scenario
        assert int(container["args"][2]) < job["spec"]["activeDeadlineSeconds"]
    job = one(render({"migration": {"waitSeconds": 5}}), "Job")
    assert job["spec"]["template"]["spec"]["containers"][0]["args"] == ["migrate", "--wait", "5"]
    # 0 keeps the CLI's default: fail at once
    job = one(render({"migration": {"waitSeconds": 0}}), "Job")
    assert job["spec"]["template"]["spec"]["containers"][0]["args"] == ["migrate", "--wait", "0"]
    # The CLI really has that option, with that meaning (not only the chart's word for it).
    from shipshape.cli import build_parser

    args = build_parser().parse_args(["migrate", "--wait", "60"])
    assert args.wait == 60.0


CHECK_WRITES = {
    "checkWrites": {
        "enabled": True,
        "count": 500,
        "durationSeconds": 30,
        "concurrency": 8,
        "requestTimeoutSeconds": 5,
        "activeDeadlineSeconds": 120,
    }
}


def check_writes_pod(objects: list[dict[str, Any]]) -> dict[str, Any]:
    pods = [o for o in find(objects, "Pod") if o["metadata"]["name"].endswith("-check-writes")]
    assert len(pods) == 1, [o["metadata"]["name"] for o in find(objects, "Pod")]
    return pods[0]


def test_check_writes_is_an_opt_in_bounded_helm_test() -> None:
    """`shipshape check-writes` packaged for the cluster: a `helm test` pod, off by default (it
    writes marked visits and birthdays into the release's database), bounded by count, duration
    and the pod's own deadline, and admitted under Pod Security `restricted`."""
    assert not [o for o in rendered("defaults") if o["metadata"]["name"].endswith("check-writes")]
    for base in ("defaults", "prod"):
        objects = render(deep_merge(SCENARIOS[base], CHECK_WRITES))
        pod = check_writes_pod(objects)
        annotations = pod["metadata"]["annotations"]
        assert annotations["helm.sh/hook"] == "test"
        # kept after success so that `kubectl logs` shows the report; replaced by the next run
        assert annotations["helm.sh/hook-delete-policy"] == "before-hook-creation"
        spec = pod["spec"]
        assert spec["restartPolicy"] == "Never"
        assert spec["activeDeadlineSeconds"] == 120
        (container,) = spec["containers"]
        service = one(objects, "Service", f"{RELEASE}-shipshape")
        url = f"http://{service['metadata']['name']}.{NAMESPACE}.svc:{service['spec']['ports'][0]['port']}"
        assert container["command"] == ["shipshape"]
        assert container["args"] == [
            "check-writes", "--url", url, "--count", "500", "--duration", "30",
            "--concurrency", "8", "--timeout", "5",
        ]  # fmt: skip
        # The CLI parses exactly these arguments.
        from shipshape.cli import build_parser

        parsed = build_parser().parse_args(container["args"])
        assert (parsed.count, parsed.duration, parsed.concurrency, parsed.timeout) == (
            500, 30.0, 8, 5.0,
        )  # fmt: skip
        # Pod Security restricted, field by field (the rehearsal has the API server admit it).
        assert spec["securityContext"]["runAsNonRoot"] is True
        assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        assert spec["automountServiceAccountToken"] is False
        assert spec["serviceAccountName"] == "default", "no identity: it only speaks HTTP"
        sc = container["securityContext"]
        assert sc["allowPrivilegeEscalation"] is False
        assert sc["readOnlyRootFilesystem"] is True
        assert sc["capabilities"]["drop"] == ["ALL"]
        assert sc["runAsNonRoot"] is True
        assert sc["seccompProfile"] == {"type": "RuntimeDefault"}
        assert container["resources"]["limits"]["memory"]
        assert {m["mountPath"] for m in container["volumeMounts"]} == {"/tmp"}, "no secrets"
        # The NetworkPolicies let it reach the app (and only the app), also without helmTest.
        assert pod["metadata"]["labels"]["app.kubernetes.io/component"] == "test"
        without_healthcheck = render(
            deep_merge(SCENARIOS[base], {**CHECK_WRITES, "helmTest": {"enabled": False}})
        )
        check_writes_pod(without_healthcheck)
        policies = {p["metadata"]["name"]: p for p in find(without_healthcheck, "NetworkPolicy")}
        assert f"{RELEASE}-shipshape-test" in policies
    report = helm.lint(
        CHART, deep_merge(PROD, CHECK_WRITES), strict=True, kube_version=f"v{OLDEST}.0"
    )
    assert not [m for m in report["messages"] if m["severity"] >= 2], report["messages"]


def test_default_password_is_generated_once_per_render() -> None:
    objects = rendered("defaults")
    secret = one(objects, "Secret")
    assert len(secret["data"]["database-password"]) > 20
    statefulset = one(objects, "StatefulSet")
    volume = next(
        v for v in statefulset["spec"]["template"]["spec"]["volumes"] if v["name"] == "secrets"
    )
    assert volume["projected"]["sources"][0]["secret"]["name"] == secret["metadata"]["name"]


def test_prometheus_rule_embeds_the_canonical_rules() -> None:
    rule = one(rendered("prod"), "PrometheusRule")
    canonical = yaml.safe_load((CHART / "files" / "prometheus-rules.yaml").read_text())
    assert rule["spec"] == canonical
    assert rule["metadata"]["labels"]["release"] == "kube-prometheus-stack"


def test_notes_render() -> None:
    notes = render_raw({})["shipshape/templates/NOTES.txt"]
    assert "development only" in notes
    assert "port-forward" in notes
    notes = render_raw(PROD)["shipshape/templates/NOTES.txt"]
    assert "https://shipshape.example.com/" in notes, "TLS at the ALB (HTTPS listener)"
    assert "development only" not in notes
    assert 'namespace "shipshape"' in notes
    assert "WARNING: this release is not shipshape/shipshape" in notes  # namespace "apps" here
    ok = helm._native.call_string(
        "helm_render",
        _chart()._raw(),
        json.dumps(PROD),
        json.dumps({"name": "shipshape", "namespace": "shipshape", "is_install": True}),
    )
    assert "WARNING: this release" not in json.loads(ok)["shipshape/templates/NOTES.txt"]


def test_prod_uses_what_infra_terraform_installs() -> None:
    """AWS Load Balancer Controller (class alb, TLS with ACM at the ALB); no ingress-nginx,
    Gateway API implementation or cert-manager ClusterIssuer is needed."""
    objects = rendered("prod")
    ingress = one(objects, "Ingress")
    assert ingress["spec"]["ingressClassName"] == "alb"
    annotations = ingress["metadata"]["annotations"]
    assert annotations["alb.ingress.kubernetes.io/target-type"] == "ip"
    assert "HTTPS" in annotations["alb.ingress.kubernetes.io/listen-ports"]
    assert annotations["alb.ingress.kubernetes.io/healthcheck-path"] == "/readyz"
    assert "cert-manager.io/cluster-issuer" not in annotations
    assert "tls" not in ingress["spec"]
    assert not find(objects, "HTTPRoute")
    for name in ("values-staging.yaml", "values-prod.yaml"):
        values = values_file(name)
        assert values["ingress"]["className"] == "alb"
        assert values["externalSecret"]["secretStoreRef"]["kind"] == "SecretStore"
        assert ".cluster-" not in values["externalDatabase"]["host"], "an RDS instance, not Aurora"


def test_chart_icon_exists_in_the_repository() -> None:
    icon = yaml.safe_load((CHART / "Chart.yaml").read_text())["icon"]
    prefix = "https://raw.githubusercontent.com/shipshape/shipshape/main/"
    assert icon.startswith(prefix)
    assert (ROOT / icon.removeprefix(prefix)).is_file(), icon


# --------------------------------------------------------------------------- kubernetes-validate


def _write_objects(objects: list[dict[str, Any]], directory: Path, prefix: str) -> dict[str, dict]:
    files = {}
    for i, obj in enumerate(objects):
        path = directory / f"{prefix}-{i:02d}-{obj['kind'].lower()}.yaml"
        path.write_text(yaml.safe_dump(strip(obj), sort_keys=False))
        files[str(path)] = obj
    return files


@pytest.mark.parametrize("kube_version", [OLDEST, NEWEST])
def test_kubernetes_validate_strict(kube_version: str, tmp_path: Path) -> None:
    files: dict[str, dict] = {}
    for scenario in SCENARIOS:
        objects = [
            o
            for o in render(SCENARIOS[scenario], kube_version=kube_version)
            if o["kind"] not in CRD_KINDS
        ]
        files.update(_write_objects(objects, tmp_path, scenario))
    result = subprocess.run(
        [str(VENV_BIN / "kubernetes-validate"), "-k", kube_version, "--strict", *files],
        capture_output=True,
        text=True,
        timeout=300,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert not re.search(r"^(ERROR|WARN)", output, re.M), output
    for path, obj in files.items():
        resource = f"{obj['kind'].lower()}/{obj['metadata']['name']}"
        expected = f"INFO {path} passed for resource {resource} against version {kube_version}"
        assert expected in output, f"no pass line for {path}:\n{output}"
    assert output.count(" passed for resource ") == len(files)


def test_kubernetes_validate_catches_a_broken_object(tmp_path: Path) -> None:
    """Negative control: the same invocation rejects an unknown field, so a pass means something."""
    deployment = strip(one(rendered("defaults"), "Deployment"))
    deployment["spec"]["template"]["spec"]["containers"][0]["livenessProbe"]["httpGett"] = {}
    path = tmp_path / "broken.yaml"
    path.write_text(yaml.safe_dump(deployment))
    result = subprocess.run(
        [str(VENV_BIN / "kubernetes-validate"), "-k", OLDEST, "--strict", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert "httpGett" in result.stdout + result.stderr


# --------------------------------------------------------------------------- custom resources
# Validated against the CRDs the projects ship (tests/support/crds.py: prometheus-operator,
# Gateway API standard channel, External Secrets at the version infra installs), fetched from
# their Go modules; strict like the API server's fieldValidation=Strict. metadata is checked
# against the real ObjectMeta schema.


def test_custom_resources_match_their_crds() -> None:
    oracle = crds.chart_oracle()
    seen: set[str] = set()
    for scenario in SCENARIOS:
        for obj in rendered(scenario):
            if obj["kind"] not in CRD_KINDS:
                continue
            seen.add(obj["kind"])
            clean = strip(obj)
            assert set(clean) == {"apiVersion", "kind", "metadata", "spec"}, sorted(clean)
            oracle.validate(clean)
    assert seen == CRD_KINDS


@pytest.mark.parametrize(
    ("kind", "mutate"),
    [
        ("ServiceMonitor", lambda s: s["endpoints"][0].update(intervall="30s")),
        ("PrometheusRule", lambda s: s["groups"][0]["rules"][0].update(expression="up")),
        ("HTTPRoute", lambda s: s["rules"][0]["matches"][0]["path"].update(type="Prefix")),
        ("ExternalSecret", lambda s: s["secretStoreRef"].update(kind="Vault")),
    ],
)
def test_the_crd_oracle_rejects_mistakes(kind: str, mutate: Any) -> None:
    objects = rendered("everything-on")
    obj = copy.deepcopy(one(objects, kind) if kind != "ExternalSecret" else find(objects, kind)[0])
    mutate(obj["spec"])
    assert crds.chart_oracle().errors(strip(obj)), f"{kind}: a broken object passed"


def test_custom_resources_point_at_the_right_objects() -> None:
    objects = rendered("everything-on")
    service = one(objects, "Service")
    deployment = one(objects, "Deployment")
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    # ServiceMonitor selects the Service and scrapes its named port at /metrics.
    monitor = one(objects, "ServiceMonitor")
    assert (
        monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    )
    assert monitor["spec"]["endpoints"][0]["port"] in {p["name"] for p in service["spec"]["ports"]}
    assert monitor["spec"]["endpoints"][0]["path"] == "/metrics"
    # Service selects the app pods only.
    assert service["spec"]["selector"].items() <= pod_labels.items()
    for job in find(objects, "Job"):
        assert (
            not service["spec"]["selector"].items()
            <= job["spec"]["template"]["metadata"]["labels"].items()
        )
    # HTTPRoute and Ingress send traffic to the Service port.
    route = one(objects, "HTTPRoute")
    backend = route["spec"]["rules"][0]["backendRefs"][0]
    assert (backend["name"], backend["port"]) == (
        service["metadata"]["name"],
        service["spec"]["ports"][0]["port"],
    )
    ingress = one(objects, "Ingress")
    ing_backend = ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]
    assert ing_backend == {"name": service["metadata"]["name"], "port": {"name": "http"}}
    assert ingress["metadata"]["annotations"]["cert-manager.io/cluster-issuer"] == "letsencrypt"
    # The ExternalSecret produces the Secret the Deployment mounts, with the keys it reads.
    volume = next(
        v for v in deployment["spec"]["template"]["spec"]["volumes"] if v["name"] == "secrets"
    )
    source = volume["projected"]["sources"][0]["secret"]
    external = next(e for e in find(objects, "ExternalSecret") if hook(e) is None)
    assert external["spec"]["target"]["name"] == source["name"]
    assert {i["key"] for i in source["items"]} == {d["secretKey"] for d in external["spec"]["data"]}
    # HPA targets the Deployment; the PDB selects its pods.
    hpa = one(objects, "HorizontalPodAutoscaler")
    assert hpa["spec"]["scaleTargetRef"]["name"] == deployment["metadata"]["name"]
    assert "replicas" not in deployment["spec"]
    pdb = one(objects, "PodDisruptionBudget")
    assert pdb["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    # IRSA annotation on the ServiceAccount the pods use.
    (account,) = [a for a in find(objects, "ServiceAccount") if hook(a) is None]
    assert account["metadata"]["annotations"]["eks.amazonaws.com/role-arn"].startswith(
        "arn:aws:iam::"
    )
    assert (
        deployment["spec"]["template"]["spec"]["serviceAccountName"] == account["metadata"]["name"]
    )


def test_network_policies() -> None:
    objects = rendered("prod")
    policies = {p["metadata"]["name"]: p["spec"] for p in find(objects, "NetworkPolicy")}
    app = policies["demo-shipshape"]
    assert app["policyTypes"] == ["Ingress", "Egress"]
    sources = app["ingress"][0]["from"]
    namespaces = {
        s["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"]
        for s in sources
        if "namespaceSelector" in s
    }
    # prod: the ALB (IP targets) from the prod VPC, Prometheus from the monitoring namespace.
    assert namespaces == {"monitoring"}
    assert {"ipBlock": {"cidr": "10.30.0.0/16"}} in sources
    assert app["ingress"][0]["ports"] == [{"port": "http", "protocol": "TCP"}]
    egress_ports = [
        sorted((p["port"], p["protocol"]) for p in rule["ports"]) for rule in app["egress"]
    ]
    assert egress_ports == [[(53, "TCP"), (53, "UDP")], [(5432, "TCP")]]
    # DNS: the cluster DNS pods and NodeLocal DNSCache's address on the node.
    assert {"ipBlock": {"cidr": "169.254.20.10/32"}} in app["egress"][0]["to"]
    assert app["egress"][1]["to"] == [
        {"ipBlock": {"cidr": f"10.30.{i}.0/24"}} for i in (56, 57, 58)
    ]
    jobs = policies["demo-shipshape-jobs"]
    assert "ingress" not in jobs
    assert len(jobs["egress"]) == 2


# --------------------------------------------------------------------------- invalid values

INVALID = [
    ({"replicaCout": 3}, "additional properties 'replicaCout' not allowed"),
    ({"replicaCount": "three"}, "/replicaCount"),
    ({"image": {"tagg": "1.0"}}, "additional properties 'tagg' not allowed"),
    ({"service": {"port": 70000}}, "/service/port"),
    ({"config": {"logLevel": "verbose"}}, "/config/logLevel"),
    ({"config": {"drainSeconds": "5s"}}, "/config/drainSeconds"),
    ({"extraEnv": [{"name": "A", "valu": "b"}]}, "/extraEnv/0"),
    ({"affinity": {"nodeAffinity": {"required": {}}}}, "/affinity/nodeAffinity"),
    ({"secrets": {"adminToken": "short"}}, "/secrets/adminToken"),
    ({"ingress": {"enabled": True}}, "/ingress/hosts"),
    ({"httpRoute": {"enabled": True}}, "/httpRoute/parentRefs"),
    (
        {"externalDatabase": {"host": "db.example.com"}},
        "postgresql.enabled=true conflicts with externalDatabase.host",
    ),
    ({"postgresql": {"enabled": False}}, "externalDatabase.host is required"),
    (
        {"postgresql": {"enabled": False}, "externalDatabase": {"host": "db"}},
        "externalDatabase.password is required",
    ),
    (
        {
            "postgresql": {"enabled": False},
            "externalDatabase": {"host": "db"},
            "secrets": {"existingSecret": "s"},
            "externalSecret": {"enabled": True, "databasePassword": {"key": "k"}},
        },
        "secrets.existingSecret and externalSecret.enabled are mutually exclusive",
    ),
    (
        {"externalSecret": {"enabled": True, "databasePassword": {"key": "k"}}},
        "externalSecret.enabled=true needs an external database",
    ),
    ({"terminationGracePeriodSeconds": 10}, "terminationGracePeriodSeconds=10 is too short"),
    (
        {"autoscaling": {"enabled": True, "minReplicas": 5, "maxReplicas": 2}},
        "autoscaling.minReplicas (5)",
    ),
    (
        {"config": {"chaosEnabled": True}},
        "config.chaosEnabled=true is refused when config.environment=production",
    ),
    (
        {"checkWrites": {"enabled": True, "durationSeconds": 100, "activeDeadlineSeconds": 100}},
        "checkWrites.activeDeadlineSeconds (100) must exceed checkWrites.durationSeconds + "
        "checkWrites.requestTimeoutSeconds (110)",
    ),
    ({"checkWrites": {"count": 0}}, "at '/checkWrites/count'"),
    ({"checkWrites": {"durationSeconds": 86400}}, "at '/checkWrites/durationSeconds'"),
    (
        {"migration": {"waitSeconds": 600, "activeDeadlineSeconds": 600}},
        "migration.waitSeconds (600) must be shorter than migration.activeDeadlineSeconds (600)",
    ),
]


@pytest.mark.parametrize(("values", "message"), INVALID, ids=[m for _, m in INVALID])
def test_invalid_values_are_rejected_with_a_message_naming_the_value(
    values: dict[str, Any], message: str
) -> None:
    with pytest.raises(helm.HelmError) as excinfo:
        render(values)
    assert message in str(excinfo.value)


def test_schema_is_closed_at_every_level() -> None:
    schema = json.loads((CHART / "values.schema.json").read_text())

    def walk(node: Any, where: str) -> Iterator[str]:
        if isinstance(node, dict):
            if "properties" in node and node.get("additionalProperties") is not False:
                yield where
            for key, value in node.items():
                yield from walk(value, f"{where}/{key}")
        elif isinstance(node, list):
            for i, value in enumerate(node):
                yield from walk(value, f"{where}/{i}")

    open_objects = [w for w in walk(schema, "#") if "/allOf/" not in w]
    assert not open_objects, open_objects
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    jsonschema.validate(values, schema)
    assert set(schema["properties"]) - {"global"} == set(values)


# --------------------------------------------------------------------------- checkov


def _checkov() -> str | None:
    for candidate in (ROOT / ".tools" / "checkov" / "bin" / "checkov", shutil.which("checkov")):
        if candidate and Path(candidate).exists():
            return str(candidate)
    return None


def test_checkov_kubernetes(tmp_path: Path) -> None:
    checkov = _checkov()
    if not checkov:
        unavailable("checkov not installed (make tools: .tools/checkov/bin/checkov)")
    files: dict[str, dict] = {}
    for scenario in (
        "defaults",
        "dev",
        "staging",
        "prod",
        "everything-on",
        "existing-secret",
        "dev-persistent-with-token",
    ):
        files.update(_write_objects(rendered(scenario), tmp_path, scenario))
    result = subprocess.run(
        [
            checkov,
            "-d",
            str(tmp_path),
            "--framework",
            "kubernetes",
            "--output",
            "json",
            "--skip-download",
            "--compact",
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode in (0, 1), result.stderr[-3000:]
    report = json.loads(result.stdout)
    reports = report if isinstance(report, list) else [report]
    assert [r["check_type"] for r in reports] == ["kubernetes"]
    summary = reports[0]["summary"]
    failed = [
        (c["check_id"], c["check_name"], c["resource"])
        for c in reports[0]["results"]["failed_checks"]
    ]
    assert not failed, failed
    assert summary["failed"] == 0
    assert summary["parsing_errors"] == 0
    assert summary["passed"] > 500, summary
    # Every object was scanned (workloads and others alike).
    assert summary["resource_count"] >= len(files) - 2, (summary, len(files))
    # Every skip comes from the chart, with its reason.
    for skipped in reports[0]["results"]["skipped_checks"]:
        reason = skipped.get("check_result", {}).get("suppress_comment", "")
        assert len(reason) > 20, skipped["check_id"]
    assert result.returncode == 0


# --------------------------------------------------------------------------- README


def test_readme_values_table_is_current() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "gen_chart_readme.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_value_is_documented() -> None:
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        import gen_chart_readme
    finally:
        sys.path.pop(0)
    params = gen_chart_readme.parse(CHART / "values.yaml")
    documented = {p.path for p in params}
    values = yaml.safe_load((CHART / "values.yaml").read_text())

    def leaves(node: Any, prefix: str) -> Iterator[str]:
        if isinstance(node, dict) and node:
            for key, value in node.items():
                yield from leaves(value, f"{prefix}.{key}" if prefix else key)
        else:
            yield prefix

    undocumented = [
        leaf
        for leaf in leaves(values, "")
        if not any(leaf == d or leaf.startswith(d + ".") for d in documented)
    ]
    assert not undocumented, undocumented
    assert len(documented) == len(params), "a value is documented twice"
