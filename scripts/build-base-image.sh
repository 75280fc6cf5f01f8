#!/usr/bin/env bash
# Build a local Debian bookworm + Python 3.11 base image without any registry.
#
# The Dockerfile's default base is the official python:3.11-slim-bookworm image.
# Where no container registry is reachable (offline CI, sandboxes) this script
# builds an equivalent base from Debian packages with debootstrap and imports
# it with `podman import`; pass it as the BASE_IMAGE build arg:
#
#   scripts/build-base-image.sh            # prints the image name
#   podman build --pull=never --build-arg BASE_IMAGE=localhost/shipshape-base:py3.11-bookworm .
#
# Idempotent: does nothing when the image already exists (FORCE=1 rebuilds).
# Needs root, debootstrap and podman.
#
# Environment:
#   BASE_IMAGE_NAME  image to create      (default localhost/shipshape-base:py3.11-bookworm)
#   DEBIAN_MIRROR    Debian mirror        (default http://deb.debian.org/debian)
#   DEBIAN_SUITE     Debian suite         (default bookworm)
#   FORCE=1          rebuild even if the image exists
#   SKIP_UPGRADE=1   skip the apt-get upgrade from bookworm-updates/-security (faster)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(dirname "$here")"
export CONTAINERS_CONF="${CONTAINERS_CONF:-$repo/deploy/containers/containers.conf}"

image="${BASE_IMAGE_NAME:-localhost/shipshape-base:py3.11-bookworm}"
mirror="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
suite="${DEBIAN_SUITE:-bookworm}"

log() { printf '[build-base-image] %s\n' "$*" >&2; }

if [[ "${FORCE:-0}" != "1" ]] && podman image exists "$image"; then
    log "$image already exists (FORCE=1 to rebuild)"
    echo "$image"
    exit 0
fi

for tool in debootstrap podman; do
    command -v "$tool" >/dev/null || { log "missing $tool (apt-get install -y $tool)"; exit 1; }
done
if [[ "$(id -u)" != "0" ]]; then
    log "debootstrap needs root"
    exit 1
fi

rootfs="$(mktemp -d /var/tmp/shipshape-rootfs.XXXXXX)"
cleanup() {
    # Never leave bind mounts behind before deleting the tree.
    for m in proc sys dev/pts dev; do
        if mountpoint -q "$rootfs/$m" 2>/dev/null; then
            umount -l "$rootfs/$m" || true
        fi
    done
    rm -rf --one-file-system "$rootfs"
}
trap cleanup EXIT

start=$(date +%s)
log "debootstrap $suite (minbase) from $mirror into $rootfs"
# python3-venv brings ensurepip (pip for the builder stage; the official image
# has it built in). ca-certificates matches the official slim image.
debootstrap --variant=minbase \
    --include=python3,python3-venv,ca-certificates \
    "$suite" "$rootfs" "$mirror" >&2

# Security and point-release updates, like the official images get.
cat >"$rootfs/etc/apt/sources.list" <<SOURCES
deb $mirror $suite main
deb $mirror $suite-updates main
deb http://deb.debian.org/debian-security $suite-security main
SOURCES
if [[ "${SKIP_UPGRADE:-0}" != "1" ]]; then
    log "apt-get upgrade inside the rootfs"
    cp /etc/resolv.conf "$rootfs/etc/resolv.conf"
    mount -t proc proc "$rootfs/proc"
    chroot "$rootfs" /usr/bin/env DEBIAN_FRONTEND=noninteractive \
        sh -c 'apt-get update -qq && apt-get upgrade -y -qq' >&2 \
        || log "upgrade failed (continuing with the debootstrap packages)"
    umount "$rootfs/proc"
    : >"$rootfs/etc/resolv.conf"
fi

# Slim it down the way python:*-slim does: no docs, man pages, locales, apt lists.
chroot "$rootfs" apt-get clean
rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin \
    "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/* "$rootfs"/usr/share/info/* \
    "$rootfs"/var/log/*.log "$rootfs"/var/log/apt/* "$rootfs"/tmp/* \
    "$rootfs"/usr/share/locale/*
find "$rootfs/usr/lib/python3.11" -name __pycache__ -type d -prune -exec rm -rf {} +
# A stable machine-id is a container anti-pattern; leave it empty like the official images.
: >"$rootfs/etc/machine-id"

log "importing as $image"
tar --numeric-owner --xattrs -C "$rootfs" -c . |
    podman import \
        --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        --change 'ENV LANG=C.UTF-8' \
        --change 'CMD ["python3"]' \
        --message "debootstrap $suite minbase + python3 (scripts/build-base-image.sh)" \
        - "$image" >&2

log "done in $(($(date +%s) - start)) s: $(podman image inspect --format '{{.Size}}' "$image") bytes"
echo "$image"
