#!/usr/bin/env bash
# Is the cluster of an environment there yet? The add-ons root (envs/<env>/addons) reads it by name
# (data "aws_eks_cluster") and its Helm provider connects to it, so it can only be planned once the
# cluster root has created it. On the first pull request of an environment (no state yet), or
# while the cluster is being created, the plan job plans the cluster root only and says so; on
# main, the apply job applies the cluster root before it plans the add-ons root.
#
#   cluster-ready.sh CLUSTER_ROOT_DIR      (after ci-init.sh of that root; GITHUB_OUTPUT optional)
#
# Writes ready=true|false (and cluster=<name> once the state names one) to GITHUB_OUTPUT. Exits 0
# either way: a missing cluster is a state of the environment, not an error of the job.
set -euo pipefail
[[ $# -eq 1 ]] || { echo "usage: $0 CLUSTER_ROOT_DIR" >&2; exit 2; }
dir=$1 out=${GITHUB_OUTPUT:-/dev/null}

if ! name=$(terraform -chdir="$dir" output -raw cluster_name 2>/dev/null) || [[ -z $name ]]; then
  echo "::notice::no cluster in the state of $dir yet: the add-ons root is planned once it is applied" >&2
  echo "ready=false" >>"$out"
  exit 0
fi
status=$(aws eks describe-cluster --name "$name" --query cluster.status --output text 2>/dev/null) || status=""
if [[ $status != ACTIVE ]]; then
  echo "::notice::cluster $name is ${status:-not found}: the add-ons root is planned once it is ACTIVE" >&2
  printf 'ready=false\ncluster=%s\n' "$name" >>"$out"
  exit 0
fi
printf 'ready=true\ncluster=%s\n' "$name" >>"$out"
