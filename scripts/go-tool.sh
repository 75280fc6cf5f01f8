#!/usr/bin/env bash
# Build a Go command at a pinned version from the Go module proxy into a per-machine cache keyed
# by name and version, and print the binary's path. A later call (any clone, any session on this
# machine) finds it there. Builds take one lock, so the big ones (several minutes and gigabytes of
# memory each on a 2-core machine) never run side by side.
#
#   scripts/go-tool.sh PACKAGE VERSION [VAR=VALUE ...]   e.g. helm.sh/helm/v4/cmd/helm v4.3.2
#
# Extra VAR=VALUE pairs are build environment (GOEXPERIMENT=jsonv2 for trivy). The cache lives in
# $SHIPSHAPE_TOOL_CACHE (default ~/.cache/shipshape/tools); the build time goes to stderr.
set -euo pipefail
[ $# -ge 2 ] || { echo "usage: $0 PACKAGE VERSION [VAR=VALUE ...]" >&2; exit 2; }
pkg=$1 version=$2
shift 2
name=$(basename "$pkg")
cache=${SHIPSHAPE_TOOL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/shipshape/tools}
dest=$cache/$name-$version
if [ ! -x "$dest/$name" ]; then
  mkdir -p "$cache"
  exec 9>"$cache/.build.lock"
  flock 9
  if [ ! -x "$dest/$name" ]; then
    start=$SECONDS
    tmp=$(mktemp -d "$cache/.build.XXXXXX")
    env GOBIN="$tmp" GOFLAGS=-mod=mod "$@" go install "$pkg@$version" >&2
    rm -rf "$dest"
    mv "$tmp" "$dest"
    echo "go-tool: built $name $version in $((SECONDS - start)) s (cached in $dest)" >&2
  fi
fi
echo "$dest/$name"
