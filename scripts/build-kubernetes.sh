#!/usr/bin/env bash
# Build kube-apiserver, kube-controller-manager and kube-scheduler at a pinned Kubernetes version
# from the Go module proxy into the per-machine tool cache, and print the directory that holds
# them. `go install k8s.io/kubernetes/cmd/...@vX` refuses (k8s.io/kubernetes's go.mod has replace
# directives), so the build goes through a throwaway module that requires k8s.io/kubernetes and
# pins each of its staging modules (k8s.io/X => k8s.io/X v0.MINOR.PATCH). The version flags make
# the server report its real version (Helm's kubeVersion checks refuse v0.0.0).
#
#   scripts/build-kubernetes.sh [VERSION]     default v1.37.2
#
# Cache: $SHIPSHAPE_TOOL_CACHE (default ~/.cache/shipshape/tools)/kubernetes-VERSION/. The build
# takes the same lock as scripts/go-tool.sh, so heavy builds never run side by side.
set -euo pipefail
version=${1:-v1.37.2}
cache=${SHIPSHAPE_TOOL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/shipshape/tools}
dest=$cache/kubernetes-$version
commands=(kube-apiserver kube-controller-manager kube-scheduler)

built() {
  local c
  for c in "${commands[@]}"; do [ -x "$dest/$c" ] || return 1; done
}

if ! built; then
  mkdir -p "$cache"
  exec 9>"$cache/.build.lock"
  flock 9
  if ! built; then
    start=$SECONDS
    work=$(mktemp -d "$cache/.build-kubernetes.XXXXXX")
    trap 'rm -rf "$work"' EXIT
    major_minor_patch=${version#v}
    IFS=. read -r major minor patch <<<"$major_minor_patch"
    staging_version="v0.$minor.$patch"
    gomod=$(go mod download -json "k8s.io/kubernetes@$version" | sed -n 's/^\t"GoMod": "\(.*\)",$/\1/p')
    [ -f "$gomod" ] || { echo "build-kubernetes: no go.mod for k8s.io/kubernetes@$version" >&2; exit 1; }
    mkdir -p "$work/mod" "$work/bin"
    {
      echo "module shipshape.invalid/kubernetes-build"
      echo
      echo "go $(sed -n 's/^go \([0-9.]*\)$/\1/p' "$gomod")"
      echo
      echo "require k8s.io/kubernetes $version"
      echo
      # One replace per staging module that k8s.io/kubernetes points at ./staging/...
      sed -n 's#^\t\(k8s.io/[a-z0-9-]*\) => ./staging/.*#\1#p' "$gomod" |
        while read -r m; do echo "replace $m => $m $staging_version"; done
    } >"$work/mod/go.mod"
    n=$(grep -c '^replace ' "$work/mod/go.mod")
    [ "$n" -gt 20 ] || { echo "build-kubernetes: only $n staging modules found in $gomod" >&2; exit 1; }
    {
      echo "//go:build tools"
      echo
      echo "package tools"
      echo
      echo "import ("
      for c in "${commands[@]}"; do echo "	_ \"k8s.io/kubernetes/cmd/$c\""; done
      echo ")"
    } >"$work/mod/tools.go"
    ldflags="-s -w -X k8s.io/component-base/version.gitVersion=$version"
    ldflags+=" -X k8s.io/component-base/version.gitMajor=$major -X k8s.io/component-base/version.gitMinor=$minor"
    ldflags+=" -X k8s.io/component-base/version.gitTreeState=clean"
    (
      cd "$work/mod"
      GOFLAGS=-mod=mod go mod tidy -e >&2
      pkgs=()
      for c in "${commands[@]}"; do pkgs+=("k8s.io/kubernetes/cmd/$c"); done
      CGO_ENABLED=0 GOFLAGS=-mod=mod go build -trimpath -ldflags "$ldflags" -o "$work/bin/" "${pkgs[@]}" >&2
    )
    rm -rf "$dest"
    mv "$work/bin" "$dest"
    echo "build-kubernetes: built ${commands[*]} $version in $((SECONDS - start)) s (cached in $dest)" >&2
  fi
fi
echo "$dest"
