#!/usr/bin/env bash
# `terraform init` of a root in CI, with the provider lock file handled explicitly. Each
# environment has two roots, each with its own lock file and state key (versions.tf): the cluster
# root envs/<env> and the add-ons root envs/<env>/addons; the workflows call this for both, the
# cluster root first. Init needs neither the cluster nor its API, only the state bucket.
#
#   ci-init.sh ROOT_DIR plan|apply      (env: TF_STATE_BUCKET, AWS_REGION; GITHUB_OUTPUT optional)
#
# The lock file (.terraform.lock.hcl) is committed and every init reads it (-lockfile=readonly), so
# a plan and its apply use exactly the reviewed provider builds. It cannot be written offline or by
# hand (it holds the registry's hashes), so the first plan of a root that has none creates it:
# `terraform providers lock` for every platform that runs Terraform, then the same readonly init
# reads it, and the plan job uploads it as the artifact `terraform-lock-<env>` (cluster root) or
# `terraform-lock-<env>-addons` (add-ons root) to be committed in that pull request. An apply
# never creates one: without a committed lock file it stops.
set -euo pipefail
[[ $# -eq 2 ]] || { echo "usage: $0 ROOT_DIR plan|apply" >&2; exit 2; }
dir=$1 mode=$2
[[ $mode == plan || $mode == apply ]] || { echo "mode must be plan or apply" >&2; exit 2; }
: "${TF_STATE_BUCKET:?TF_STATE_BUCKET is not set}" "${AWS_REGION:?AWS_REGION is not set}"
lock="$dir/.terraform.lock.hcl"
platforms=(-platform=linux_amd64 -platform=linux_arm64 -platform=darwin_amd64 -platform=darwin_arm64)

created=false
if [[ ! -f $lock ]]; then
  if [[ $mode == apply ]]; then
    echo "::error file=$lock::no committed provider lock file; merge the one the pull request's plan created (artifact terraform-lock-<env> or terraform-lock-<env>-addons)" >&2
    exit 1
  fi
  echo "::warning file=$lock::no committed provider lock file: creating it (commit the artifact terraform-lock-<env>[-addons])" >&2
  # Modules only, no backend: then lock the providers for every platform.
  terraform -chdir="$dir" init -input=false -backend=false
  terraform -chdir="$dir" providers lock "${platforms[@]}"
  created=true
fi
echo "lock-created=$created" >>"${GITHUB_OUTPUT:-/dev/null}"

terraform -chdir="$dir" init -input=false -lockfile=readonly \
  -backend-config="bucket=${TF_STATE_BUCKET}" -backend-config="region=${AWS_REGION}"
