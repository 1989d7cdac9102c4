#!/usr/bin/env bash
# Install what is needed, then start a sandbox federation and run a real analysis end to end.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
export CONTAINERS_CONF="${CONTAINERS_CONF:-$PWD/containers/containers.conf}"
exec .venv/bin/v6 sandbox up "$@"
