#!/usr/bin/env bash
# Install what is needed, then run lint, the import contracts, the type checker and the whole
# test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
export V6_PUBLISHED_VENV="${V6_PUBLISHED_VENV:-$HOME/.cache/vantage6-next/v6client}"
export V6_PUBLISHED_NODE_VENV="${V6_PUBLISHED_NODE_VENV:-$HOME/.cache/vantage6-next/v6node}"
export V6_PUBLISHED_SERVER_VENV="${V6_PUBLISHED_SERVER_VENV:-$HOME/.cache/vantage6-next/v6ref}"
export CONTAINERS_CONF="${CONTAINERS_CONF:-$PWD/containers/containers.conf}"
# Container images the node and algorithm tests run (cached; rebuilt only when inputs change).
.venv/bin/python -m containers.images build
.venv/bin/ruff check .
.venv/bin/ruff format --check .
# Layers and cycles (import-linter contracts in pyproject.toml), then types (mypy, strict on
# vantage6_common and the container runtime interface).
.venv/bin/lint-imports --no-cache
.venv/bin/mypy
.venv/bin/python -m pytest -q -p no:cacheprovider "$@"
