#!/usr/bin/env bash
# Debian packages the test suite and benchmarks need. Runs apt-get only for what is missing, so
# it is cheap to call from every `make test`: as root directly, otherwise through `sudo -n`
# (passwordless sudo, as on GitHub's hosted runners). Without root and without passwordless sudo
# a missing package is an error that names it.
set -euo pipefail

packages=(
  mariadb-server mariadb-client   # throwaway MariaDB for integration tests
  postgresql-15 postgresql-client-15  # throwaway PostgreSQL (binaries in /usr/lib/postgresql/15/bin)
  nginx                           # the reverse proxy, run for real on loopback
  pgbouncer                       # connection pooler in transaction mode (fault campaign scenario 6)
  chromium                        # headless browser for the dashboard tests
  prometheus                      # promtool and a real Prometheus server
  podman buildah runc debootstrap uidmap slirp4netns fuse-overlayfs  # container build and smoke test (runc: crun fails on hybrid cgroups)
  wrk                             # load generator for make bench
  shellcheck                      # lint for shell scripts
  etcd-server                     # the etcd of the throwaway Kubernetes control plane (tests/cluster)
  sudo                            # the runner rehearsal (tests/deploy/test_workflows_on_runner.py)
)

missing=()
for pkg in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "system-deps: all ${#packages[@]} packages present"
  exit 0
fi
as_root=()
if [ "$(id -u)" -ne 0 ]; then
  if ! command -v sudo >/dev/null 2>&1 || ! sudo -n true 2>/dev/null; then
    echo "system-deps: missing ${missing[*]}; run as root or with passwordless sudo" >&2
    exit 1
  fi
  as_root=(sudo -n)
fi
apt_opts=(-o DPkg::Lock::Timeout=900 -o Acquire::Retries=3)
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get "${apt_opts[@]}" update -qq
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive \
  apt-get "${apt_opts[@]}" install -y -qq --no-install-recommends "${missing[@]}"
# Distribution services must not squat the ports or data dirs our throwaway servers use.
for service in mariadb nginx prometheus postgresql etcd; do
  if command -v systemctl >/dev/null 2>&1; then
    "${as_root[@]}" systemctl stop "$service" 2>/dev/null || true
  fi
  "${as_root[@]}" service "$service" stop >/dev/null 2>&1 || true
done
echo "system-deps: installed ${missing[*]}"
