#!/usr/bin/env bash
# The advisory plan of one root in the pull-request plan job, kept for the pull-request comment
# (.github/scripts/terraform-plan-comment.js reads OUT_DIR/plan.txt and plan-exitcode.txt).
#
#   ci-plan.sh ROOT_DIR OUT_DIR      plan ROOT_DIR (after ci-init.sh), write the plan to OUT_DIR
#   ci-plan.sh --not-ready OUT_DIR   the add-ons root before its cluster exists: say so instead
#
# -lock=false: the plan role is read-only and the plan is advisory; the apply on main re-plans
# under the state lock. -detailed-exitcode: 0 no changes, 2 changes, 1 error (the job fails).
set -euo pipefail
[[ $# -eq 2 ]] || { echo "usage: $0 ROOT_DIR|--not-ready OUT_DIR" >&2; exit 2; }
dir=$1 out=$2
mkdir -p "$out"
if [[ $dir == --not-ready ]]; then
  printf '%s\n' "The cluster does not exist yet (or is not ACTIVE), so the add-ons root cannot be" \
    "planned: on main it is planned and applied right after the cluster root." >"$out/plan.txt"
  echo 2 >"$out/plan-exitcode.txt"
  exit 0
fi
status=0
terraform -chdir="$dir" plan -input=false -lock=false -no-color -detailed-exitcode -out=tfplan || status=$?
if [[ $status -ne 0 && $status -ne 2 ]]; then
  exit 1
fi
terraform -chdir="$dir" show -no-color tfplan >"$out/plan.txt"
echo "$status" >"$out/plan-exitcode.txt"
