#!/usr/bin/env bash
# End-to-end install of charts/shipshape on a throwaway kind cluster:
#   kind create cluster -> load the image -> helm upgrade --install --wait (dev values, in-chart
#   PostgreSQL) -> helm test -> cluster state and pod logs on failure -> delete the cluster.
#
# Used by .github/workflows/chart.yml (job kind-e2e) and runnable on a laptop that has kind, helm,
# kubectl and docker or podman:
#   BUILD_IMAGE=true scripts/kind-e2e.sh
#
# Settings (environment):
#   KIND_CLUSTER_NAME  cluster name                        (default shipshape-e2e)
#   KIND_NODE_IMAGE    kindest/node image                  (default: kind's own default)
#   IMAGE_REPOSITORY   app image repository                (default localhost/shipshape)
#   IMAGE_TAG          app image tag                       (default e2e)
#   BUILD_IMAGE        true: build the image first with $CONTAINER_ENGINE (default false)
#   CONTAINER_ENGINE   docker or podman                    (default: docker if present, else podman)
#   NAMESPACE          namespace of the release            (default shipshape-e2e)
#   RELEASE            Helm release name                   (default shipshape)
#   CHART_DIR          chart directory                     (default charts/shipshape)
#   VALUES_FILE        values file                         (default $CHART_DIR/values-dev.yaml)
#   HELM_TIMEOUT       helm --timeout                      (default 10m)
#   ARTIFACTS_DIR      where diagnostics are written       (default test-artifacts/kind-e2e)
#   KEEP_CLUSTER       true: keep the cluster at the end   (default false)
#   DRY_RUN            true: print the commands, run none  (default false)
set -Eeuo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

KIND_CLUSTER_NAME="${KIND_CLUSTER_NAME:-shipshape-e2e}"
KIND_NODE_IMAGE="${KIND_NODE_IMAGE:-}"
IMAGE_REPOSITORY="${IMAGE_REPOSITORY:-localhost/shipshape}"
IMAGE_TAG="${IMAGE_TAG:-e2e}"
BUILD_IMAGE="${BUILD_IMAGE:-false}"
NAMESPACE="${NAMESPACE:-shipshape-e2e}"
RELEASE="${RELEASE:-shipshape}"
CHART_DIR="${CHART_DIR:-charts/shipshape}"
VALUES_FILE="${VALUES_FILE:-${CHART_DIR}/values-dev.yaml}"
HELM_TIMEOUT="${HELM_TIMEOUT:-10m}"
ARTIFACTS_DIR="${ARTIFACTS_DIR:-test-artifacts/kind-e2e}"
KEEP_CLUSTER="${KEEP_CLUSTER:-false}"
DRY_RUN="${DRY_RUN:-false}"

IMAGE="${IMAGE_REPOSITORY}:${IMAGE_TAG}"

log() { printf '==> %s\n' "$*" >&2; }

run() {
  printf '+ %s\n' "$*" >&2
  if [[ "${DRY_RUN}" != "true" ]]; then
    "$@"
  fi
}

need() {
  local tool
  for tool in "$@"; do
    if ! command -v "${tool}" >/dev/null 2>&1; then
      printf 'kind-e2e: required tool not found on PATH: %s\n' "${tool}" >&2
      exit 127
    fi
  done
}

container_engine() {
  if [[ -n "${CONTAINER_ENGINE:-}" ]]; then
    printf '%s\n' "${CONTAINER_ENGINE}"
  elif command -v docker >/dev/null 2>&1; then
    printf 'docker\n'
  else
    printf 'podman\n'
  fi
}

collect_diagnostics() {
  mkdir -p "${ARTIFACTS_DIR}"
  log "collecting cluster state and pod logs into ${ARTIFACTS_DIR}"
  {
    kubectl get nodes -o wide || true
    kubectl get all,pvc,configmaps,secrets,networkpolicies,jobs -n "${NAMESPACE}" -o wide || true
    kubectl get events -n "${NAMESPACE}" --sort-by=.lastTimestamp || true
  } >"${ARTIFACTS_DIR}/cluster-state.txt" 2>&1
  kubectl describe pods -n "${NAMESPACE}" >"${ARTIFACTS_DIR}/pods-describe.txt" 2>&1 || true
  helm status "${RELEASE}" -n "${NAMESPACE}" --show-resources >"${ARTIFACTS_DIR}/helm-status.txt" 2>&1 || true
  helm history "${RELEASE}" -n "${NAMESPACE}" >"${ARTIFACTS_DIR}/helm-history.txt" 2>&1 || true
  local pod
  for pod in $(kubectl get pods -n "${NAMESPACE}" -o name 2>/dev/null); do
    local file="${ARTIFACTS_DIR}/logs-${pod#pod/}.txt"
    kubectl logs -n "${NAMESPACE}" "${pod}" --all-containers --prefix --timestamps >"${file}" 2>&1 || true
    kubectl logs -n "${NAMESPACE}" "${pod}" --all-containers --prefix --timestamps --previous \
      >>"${file}" 2>/dev/null || true
  done
  # Also in the job log, so that a failure is readable without downloading the artifact.
  local f
  for f in "${ARTIFACTS_DIR}"/*.txt; do
    [[ -e "${f}" ]] || continue
    printf '\n----- %s -----\n' "${f}"
    tail -n 200 "${f}"
  done
}

on_exit() {
  local status=$?
  if [[ "${DRY_RUN}" == "true" ]]; then
    exit "${status}"
  fi
  if [[ ${status} -ne 0 ]]; then
    log "FAILED (exit ${status})"
    collect_diagnostics
  fi
  if [[ "${KEEP_CLUSTER}" != "true" ]]; then
    log "deleting kind cluster ${KIND_CLUSTER_NAME}"
    kind delete cluster --name "${KIND_CLUSTER_NAME}" >/dev/null 2>&1 || true
  fi
  exit "${status}"
}

main() {
  [[ -f "${VALUES_FILE}" ]] || { printf 'kind-e2e: values file not found: %s\n' "${VALUES_FILE}" >&2; exit 2; }
  [[ -f "${CHART_DIR}/Chart.yaml" ]] || { printf 'kind-e2e: no chart in %s\n' "${CHART_DIR}" >&2; exit 2; }

  local engine
  engine="$(container_engine)"
  if [[ "${DRY_RUN}" != "true" ]]; then
    need kind helm kubectl "${engine}"
  fi
  trap on_exit EXIT

  if [[ "${BUILD_IMAGE}" == "true" ]]; then
    log "building ${IMAGE} with ${engine}"
    run "${engine}" build -t "${IMAGE}" \
      --build-arg "VERSION=0.0.0-e2e" \
      --build-arg "VCS_REF=$(git rev-parse HEAD 2>/dev/null || echo unknown)" .
  fi

  log "creating kind cluster ${KIND_CLUSTER_NAME}"
  local create=(kind create cluster --name "${KIND_CLUSTER_NAME}" --wait 180s)
  if [[ -n "${KIND_NODE_IMAGE}" ]]; then
    create+=(--image "${KIND_NODE_IMAGE}")
  fi
  run "${create[@]}"
  run kubectl cluster-info --context "kind-${KIND_CLUSTER_NAME}"

  log "loading ${IMAGE} into the cluster"
  if [[ "${engine}" == "docker" ]]; then
    run kind load docker-image "${IMAGE}" --name "${KIND_CLUSTER_NAME}"
  else
    local archive
    archive="$(mktemp -d)/image.tar"
    run "${engine}" save -o "${archive}" "${IMAGE}"
    run kind load image-archive "${archive}" --name "${KIND_CLUSTER_NAME}"
    run rm -f "${archive}"
  fi

  if grep -q '^dependencies:' "${CHART_DIR}/Chart.yaml"; then
    run helm dependency build "${CHART_DIR}"
  fi

  log "helm upgrade --install ${RELEASE} (values ${VALUES_FILE})"
  run helm upgrade --install "${RELEASE}" "${CHART_DIR}" \
    --namespace "${NAMESPACE}" --create-namespace \
    --values "${VALUES_FILE}" \
    --set-string "image.repository=${IMAGE_REPOSITORY}" \
    --set-string "image.tag=${IMAGE_TAG}" \
    --set-string "image.pullPolicy=Never" \
    --wait --wait-for-jobs --timeout "${HELM_TIMEOUT}"

  log "rollout status"
  run kubectl rollout status deployment -n "${NAMESPACE}" \
    -l "app.kubernetes.io/instance=${RELEASE}" --timeout 300s

  log "helm test ${RELEASE}"
  run helm test "${RELEASE}" --namespace "${NAMESPACE}" --logs --timeout 5m

  log "upgrade in place (the migration hook runs again, pods roll without downtime)"
  run helm upgrade "${RELEASE}" "${CHART_DIR}" \
    --namespace "${NAMESPACE}" --reuse-values \
    --set-string "podAnnotations.shipshape\.dev/e2e-upgrade=1" \
    --wait --wait-for-jobs --timeout "${HELM_TIMEOUT}"
  run helm test "${RELEASE}" --namespace "${NAMESPACE}" --logs --timeout 5m

  log "OK: ${RELEASE} installed, upgraded and tested on kind"
}

main "$@"
