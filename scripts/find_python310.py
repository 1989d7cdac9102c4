"""Find a working Python 3.10 (the published vantage6 4.14 server and node need it).

    python3 scripts/find_python310.py      # prints the executable, exit 1 when none works

Used by scripts/install.sh (the published node's venv) and benchmarks/bench_servers.py (the
reference server's venv). Standard library only: it runs before any venv exists.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import sys
from pathlib import Path


def find_python310() -> str:
    """``$V6REF_PYTHON``, else ``python3.10`` on PATH, else the newest pyenv 3.10.x."""
    explicit = os.environ.get("V6REF_PYTHON")
    if explicit:
        return explicit
    pyenv_root = os.environ.get("PYENV_ROOT", str(Path.home() / ".pyenv"))
    candidates = [shutil.which("python3.10")]
    candidates += sorted(glob.glob(f"{pyenv_root}/versions/3.10*/bin/python"), reverse=True)
    for candidate in candidates:
        # (a pyenv shim is found on PATH even when pyenv does not enable that version)
        if candidate and subprocess.run([candidate, "-c", ""], capture_output=True).returncode == 0:
            return candidate
    raise RuntimeError(
        "vantage6 4.14 needs Python 3.10, which was not found: set V6REF_PYTHON to a "
        "python3.10 executable (or install one with pyenv)."
    )


if __name__ == "__main__":
    try:
        print(find_python310())
    except RuntimeError as exc:
        print(exc, file=sys.stderr)
        sys.exit(1)
