#!/usr/bin/env bash
# Install what the sandbox needs, then start a sandbox federation and run a real analysis.
# Only the sandbox's needs: the container tools (containers/setup.sh), a .venv with this project
# (no test extras, no extra shells, no published vantage6 packages; scripts/install.sh adds
# those for the tests).
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3.11}"

bash containers/setup.sh
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
# (v6 itself: in this folder 'import vantage6_cli' works without any installation)
if ! .venv/bin/v6 --version >/dev/null 2>&1; then
  .venv/bin/pip install -q --upgrade pip
  .venv/bin/pip install -q -e .
fi
export CONTAINERS_CONF="${CONTAINERS_CONF:-$PWD/containers/containers.conf}"
echo "sandbox.sh: v6 is $PWD/.venv/bin/v6; to call it by name: export PATH=\"$PWD/.venv/bin:\$PATH\"" >&2
exec .venv/bin/v6 sandbox up "$@"
