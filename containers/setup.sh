#!/usr/bin/env bash
# Prepare this machine for running containers with podman (Debian 12, run as root).
#
# Idempotent and non-interactive, so CI can call it every time:
#   bash containers/setup.sh                 # packages + podman smoke check
#   bash containers/setup.sh --build-images  # ... and build/refresh the local images
#
# Installs only what is missing: podman, runc (crun does not work here), debootstrap (for the
# base image), netavark/aardvark-dns (podman networks), catatonit, slirp4netns, uidmap, iptables,
# tar and ca-certificates. Podman is then checked with the project's containers.conf.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(dirname "$here")"
build_images=0
for arg in "$@"; do
    case "$arg" in
        --build-images) build_images=1 ;;
        -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
        *) echo "unknown argument: $arg" >&2; exit 2 ;;
    esac
done

packages=(podman runc debootstrap netavark aardvark-dns catatonit slirp4netns uidmap iptables
          tar ca-certificates)
missing=()
for pkg in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$pkg")
    fi
done

if ((${#missing[@]})); then
    if [[ $(id -u) -ne 0 ]]; then
        echo "setup.sh: need root to install: ${missing[*]}" >&2
        exit 1
    fi
    echo "setup.sh: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" </dev/null
fi

export CONTAINERS_CONF="${CONTAINERS_CONF:-$repo/containers/containers.conf}"

# podman must work with our settings (runc, ulimits that can be applied here)
if ! podman info --format '{{.Host.OCIRuntime.Name}}' >/dev/null 2>&1; then
    echo "setup.sh: 'podman info' fails with CONTAINERS_CONF=$CONTAINERS_CONF:" >&2
    podman info >&2 || true
    exit 1
fi
echo "setup.sh: podman $(podman version --format '{{.Client.Version}}')," \
     "runtime $(podman info --format '{{.Host.OCIRuntime.Name}}'), CONTAINERS_CONF=$CONTAINERS_CONF"

if ((build_images)); then
    python="${PYTHON:-}"
    if [[ -z "$python" ]]; then
        if [[ -x "$repo/.venv/bin/python" ]]; then python="$repo/.venv/bin/python"; else python=python3; fi
    fi
    (cd "$repo" && "$python" -m containers.images build)
fi
