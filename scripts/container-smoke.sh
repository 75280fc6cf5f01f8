#!/usr/bin/env bash
# Container smoke test (see scripts/container-smoke.py for what it checks):
#   scripts/container-smoke.sh                # build the image and run it for real (make smoke)
#   scripts/container-smoke.sh --build-only   # just build it (make image)
#   scripts/container-smoke.sh --help
# The logic lives in container-smoke.py (standard library only); this wrapper picks the
# project's interpreter when there is one, so `tests/support/databases.py` imports the same way.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(dirname "$here")"
export CONTAINERS_CONF="${CONTAINERS_CONF:-$repo/deploy/containers/containers.conf}"

python="python3"
if [[ -x "$repo/.venv/bin/python" ]]; then
    python="$repo/.venv/bin/python"
fi
exec "$python" "$here/container-smoke.py" "$@"
