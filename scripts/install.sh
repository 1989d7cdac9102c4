#!/usr/bin/env bash
# Install everything this project needs on a fresh Debian 12 machine (idempotent).
# - system packages for containers (podman, runc, debootstrap) when running as root
# - .venv with the project and its test tools
# - Azurite (the Azure Storage emulator, from npm) for the storage tests; moto comes with [test]
# - the published vantage6 4.14 client and algorithm tools in their own venv (compat tests)
# - the published vantage6 4.14 node in a Python 3.10 venv (mixed-federation tests)
# - the published vantage6 4.14 server with uWSGI in a Python 3.10 venv (our node on it, and the
#   benchmark's reference), and libfaketime (its token-expiry test moves the server's clock)
# (scripts/sandbox.sh installs only what the sandbox needs.)
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3.11}"
PUBLISHED_VENV="${V6_PUBLISHED_VENV:-$HOME/.cache/vantage6-next/v6client}"
NODE_VENV="${V6_PUBLISHED_NODE_VENV:-$HOME/.cache/vantage6-next/v6node}"
SERVER_VENV="${V6_PUBLISHED_SERVER_VENV:-$HOME/.cache/vantage6-next/v6ref}"

if [ -x containers/setup.sh ] || [ -f containers/setup.sh ]; then
  bash containers/setup.sh
fi

# Shells whose completion scripts the tests load for real; libfaketime for a server's clock.
if [ "$(id -u)" = 0 ] && { ! command -v zsh >/dev/null || ! command -v fish >/dev/null || ! command -v faketime >/dev/null; }; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q zsh fish faketime >/dev/null
fi

# A real container registry for the store/digest tests (tests/registry.py starts its own).
if [ "$(id -u)" = 0 ] && ! command -v docker-registry >/dev/null; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q docker-registry >/dev/null
fi

if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/pip install -q --upgrade pip
.venv/bin/pip install -q -e '.[test]'

AZURITE_DIR="${V6_AZURITE_DIR:-$HOME/.cache/vantage6-next/azurite}"
if [ ! -x "$AZURITE_DIR/node_modules/.bin/azurite-blob" ]; then
  if ! command -v npm >/dev/null && [ "$(id -u)" = 0 ]; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q nodejs npm >/dev/null
  fi
  mkdir -p "$AZURITE_DIR"
  npm install --prefix "$AZURITE_DIR" --no-audit --no-fund --silent 'azurite@3'
fi

if [ ! -x "$PUBLISHED_VENV/bin/python" ] || ! "$PUBLISHED_VENV/bin/python" -c 'import vantage6.client, vantage6.algorithm.tools' 2>/dev/null; then
  mkdir -p "$(dirname "$PUBLISHED_VENV")"
  "$PYTHON" -m venv "$PUBLISHED_VENV"
  "$PUBLISHED_VENV/bin/pip" install -q --upgrade pip
  "$PUBLISHED_VENV/bin/pip" install -q 'vantage6-client==4.14.*' 'vantage6-algorithm-tools==4.14.*'
fi

# vantage6-node 4.14 needs Python 3.10 (found the way the benchmarks find it: PATH or pyenv).
# Its proxy imports flask, which the package lists only as a dev extra, and its socket falls back
# to long polling without websocket-client (it logs an ERROR then); vantage6's own image gets
# both from their requirements.txt, so install them with the pins from there.
node_venv_ready() {
  "$NODE_VENV/bin/python" -c 'import importlib.metadata as m, sys, flask, websocket
sys.exit(0 if m.version("vantage6-node").startswith("4.14.") else 1)' 2>/dev/null
}
if ! node_venv_ready; then
  PYTHON310="$("$PYTHON" scripts/find_python310.py)"
  rm -rf "$NODE_VENV"
  mkdir -p "$(dirname "$NODE_VENV")"
  "$PYTHON310" -m venv "$NODE_VENV"
  "$NODE_VENV/bin/pip" install -q --upgrade pip
  "$NODE_VENV/bin/pip" install -q 'vantage6-node==4.14.*' 'flask==3.1.1' 'websocket-client==1.5.0'
  node_venv_ready
fi
# vantage6-server 4.14 with uWSGI (Python 3.10), made the way the benchmark makes it (about two
# minutes the first time; a no-op once ready).
mkdir -p "$(dirname "$SERVER_VENV")"
.venv/bin/python -c 'import sys; from pathlib import Path
sys.path.insert(0, ".")
from benchmarks.bench_servers import ensure_reference_venv
ensure_reference_venv(Path(sys.argv[1]), Path(sys.argv[1]).parent)' "$SERVER_VENV"
echo "installed: .venv, $AZURITE_DIR, $PUBLISHED_VENV, $NODE_VENV and $SERVER_VENV" >&2
