"""The order in which Argo CD applies an application's objects, as its sync engine computes it
(github.com/argoproj/gitops-engine, pkg/sync: sync_phase.go, hook/, syncwaves/, sync_tasks.go at
the version Argo CD v3.0 vendors), so tests can assert the bootstrap order and replay it on the
rehearsal API server.

The rules, from that code:
- phase: `argocd.argoproj.io/hook` (PreSync, Sync, PostSync, SyncFail; Skip = never applied)
  wins over `helm.sh/hook`, which maps pre-install/pre-upgrade to PreSync and
  post-install/post-upgrade to PostSync; any other Helm hook (`test`) puts the object in no
  phase: Argo CD never applies it. Everything else is in Sync.
- wave: `argocd.argoproj.io/sync-wave`, else `helm.sh/hook-weight`, else 0.
- within a wave: Helm's kind order (Namespace, NetworkPolicy, ..., ServiceAccount, Secret,
  ConfigMap, ..., Service, Pod, Deployment, ..., Job, CronJob, Ingress; other kinds after),
  then name.
- a wave starts only when every object of the previous one is healthy (Argo CD's health checks:
  a Job complete, an ExternalSecret or SecretStore condition Ready=True; Degraded -
  Ready=False, a failed Job - fails the sync); objects of the final wave are not waited for.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

HOOK = "argocd.argoproj.io/hook"
WAVE = "argocd.argoproj.io/sync-wave"
HELM_HOOK = "helm.sh/hook"
HELM_WEIGHT = "helm.sh/hook-weight"
PHASES = ("PreSync", "Sync", "PostSync")
HELM_PHASES = {
    "pre-install": "PreSync",
    "pre-upgrade": "PreSync",
    "post-install": "PostSync",
    "post-upgrade": "PostSync",
}
KIND_ORDER = [
    "Namespace", "NetworkPolicy", "ResourceQuota", "LimitRange", "PodSecurityPolicy",
    "PodDisruptionBudget", "ServiceAccount", "Secret", "SecretList", "ConfigMap", "StorageClass",
    "PersistentVolume", "PersistentVolumeClaim", "CustomResourceDefinition", "ClusterRole",
    "ClusterRoleList", "ClusterRoleBinding", "ClusterRoleBindingList", "Role", "RoleList",
    "RoleBinding", "RoleBindingList", "Service", "DaemonSet", "Pod", "ReplicationController",
    "ReplicaSet", "Deployment", "HorizontalPodAutoscaler", "StatefulSet", "Job", "CronJob",
    "IngressClass", "Ingress", "APIService",
]  # fmt: skip


def _csv(obj: dict[str, Any], key: str) -> list[str]:
    value = ((obj.get("metadata") or {}).get("annotations") or {}).get(key)
    return [v.strip() for v in value.split(",")] if value is not None else []


def phases(obj: dict[str, Any]) -> list[str]:
    """The sync phases an object is applied in (empty: never applied)."""
    argo = [t for t in _csv(obj, HOOK) if t in (*PHASES, "SyncFail", "Skip")]
    if argo == ["Skip"]:
        return []
    if _csv(obj, HOOK):
        return sorted({t for t in argo if t in PHASES}, key=PHASES.index)
    helm = _csv(obj, HELM_HOOK)
    if helm and helm != ["crd-install"]:
        return sorted({HELM_PHASES[t] for t in helm if t in HELM_PHASES}, key=PHASES.index)
    return ["Sync"]


def is_hook(obj: dict[str, Any]) -> bool:
    """A hook is applied in its phase and waited for as a hook (a Job until it completes)."""
    argo = _csv(obj, HOOK)
    if argo:
        return argo != ["Skip"]
    helm = _csv(obj, HELM_HOOK)
    return bool(helm) and helm != ["crd-install"]


def wave(obj: dict[str, Any]) -> int:
    annotations = (obj.get("metadata") or {}).get("annotations") or {}
    for key in (WAVE, HELM_WEIGHT):
        try:
            return int(annotations[key])
        except (KeyError, ValueError):
            continue
    return 0


def _kind_rank(kind: str) -> int:
    return KIND_ORDER.index(kind) - len(KIND_ORDER) if kind in KIND_ORDER else 0


@dataclass(frozen=True)
class Step:
    phase: str
    wave: int
    objects: tuple[dict[str, Any], ...]

    def names(self) -> list[str]:
        return [f"{o['kind']}/{o['metadata']['name']}" for o in self.objects]


def plan(objects: Iterable[dict[str, Any]]) -> list[Step]:
    """The sync's steps in order: (phase, wave) groups, each in Argo CD's order within a wave."""
    tasks = [(p, o) for o in objects for p in phases(o)]

    def key(task: tuple[str, dict[str, Any]]) -> tuple[int, int, int, str, str]:
        phase, obj = task
        return (PHASES.index(phase), wave(obj), _kind_rank(obj["kind"]), obj["kind"],
                obj["metadata"]["name"])  # fmt: skip

    tasks.sort(key=key)
    steps = []
    for (phase, number), group in itertools.groupby(tasks, key=lambda t: (t[0], wave(t[1]))):
        steps.append(Step(phase, number, tuple(o for _, o in group)))
    return steps


def position(steps: list[Step], kind: str, name: str | None = None) -> int:
    """Index of the step that applies the object (the first one with that kind and name)."""
    for i, step in enumerate(steps):
        for obj in step.objects:
            if obj["kind"] == kind and (name is None or obj["metadata"]["name"] == name):
                return i
    raise KeyError(f"{kind}/{name or '*'} is not applied by this sync")


def health(obj: dict[str, Any] | None) -> str:
    """Argo CD's health of a live object, for the kinds the bootstrap waits on:
    Healthy, Progressing or Degraded (its built-in checks; kinds without one are Healthy)."""
    if obj is None:
        return "Progressing"
    kind = obj["kind"]
    status = obj.get("status") or {}
    if kind in ("SecretStore", "ClusterSecretStore", "ExternalSecret"):
        for condition in status.get("conditions") or []:
            if condition.get("type") == "Ready":
                return "Healthy" if condition.get("status") == "True" else "Degraded"
        return "Progressing"
    if kind == "Job":
        if status.get("succeeded"):
            return "Healthy"
        if any(
            c.get("type") == "Failed" and c.get("status") == "True"
            for c in status.get("conditions") or []
        ):
            return "Degraded"
        return "Progressing"
    if kind == "Deployment":
        replicas = (obj.get("spec") or {}).get("replicas", 1)
        if (
            status.get("availableReplicas", 0) >= replicas
            and status.get("updatedReplicas", 0) >= replicas
        ):
            return "Healthy"
        return "Progressing"
    return "Healthy"


def describe(steps: list[Step]) -> Iterator[str]:
    for step in steps:
        yield f"{step.phase} wave {step.wave}: {', '.join(step.names())}"
