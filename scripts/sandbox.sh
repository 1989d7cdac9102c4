#!/usr/bin/env bash
# Install what is needed, then start a sandbox federation and run a real analysis end to end.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh --sandbox
export CONTAINERS_CONF="${CONTAINERS_CONF:-$PWD/containers/containers.conf}"
echo "sandbox.sh: v6 is $PWD/.venv/bin/v6; to call it by name: export PATH=\"$PWD/.venv/bin:\$PATH\"" >&2
exec .venv/bin/v6 sandbox up "$@"
