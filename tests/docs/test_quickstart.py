"""``docs/quickstart.md`` run literally: its marked commands, in order, in one bash script,
as root, without a terminal, in a fresh HOME (so the sandbox and the login are new).

The script is the page's blocks joined; nothing is substituted. It ends with
``v6 sandbox down --purge``; if it fails or times out, the sandbox is taken down anyway.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess

import pytest

from tests.docs.quickstart import REPO, quickstart_blocks

pytestmark = pytest.mark.containers

TIMEOUT = 1500  # seconds for the whole page (first run: packages, venv and demo image)


def clean_environment(home) -> dict[str, str]:
    """The caller's environment without anything that would steer v6 or Python elsewhere."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("V6_", "XDG_", "PYTHON", "VIRTUAL_ENV", "CONTAINERS_"))
    }
    env.update(HOME=str(home), NO_COLOR="1", TERM="dumb")
    return env


def test_quickstart_commands_run_as_written(tmp_path):
    if shutil.which("podman") is None:
        pytest.skip("podman is not installed")
    if os.geteuid() != 0:
        pytest.skip("the quickstart's tested path is the root one")
    home = tmp_path / "home"
    home.mkdir()
    env = clean_environment(home)
    script = "set -euo pipefail\n" + "\n".join(quickstart_blocks()) + "\n"
    (tmp_path / "quickstart.sh").write_text(script)
    proc = subprocess.Popen(
        ["bash", str(tmp_path / "quickstart.sh")],
        cwd=REPO,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        out, err = proc.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        pytest.fail(f"the quickstart took over {TIMEOUT} s:\n{err[-4000:]}")
    finally:
        if proc.returncode != 0:
            v6 = REPO / ".venv" / "bin" / "v6"
            if v6.exists():
                subprocess.run(
                    [str(v6), "sandbox", "down", "--purge"],
                    env=env,
                    stdin=subprocess.DEVNULL,
                    capture_output=True,
                    timeout=300,
                )
    assert proc.returncode == 0, (
        f"exit {proc.returncode}\n--- stdout\n{out[-4000:]}\n--- stderr\n{err[-6000:]}"
    )
    assert "export V6_SERVER_URL=" in out
    assert '"bmi"' in out  # the summary of step 5, printed by --wait
    assert '"systolic_bp"' in out  # v6 task result 1: the sandbox's own demo task
    assert "mean systolic blood pressure:" in out  # the Python client of step 6
    assert "sandbox 'sandbox' stopped and deleted" in err
    assert not (home / ".config" / "vantage6-next" / "sandbox" / "sandbox").exists()
