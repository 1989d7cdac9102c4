"""``v6 algorithm create``, shell completion, and output rules (stdout/stderr, NO_COLOR)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cli.conftest import V6, run_v6


def test_algorithm_create_and_its_tests_pass(v6, tmp_path):
    target = tmp_path / "my-average"
    result = v6("algorithm", "create", "my-average", "--directory", target, "--json")
    assert result.exit_code == 0, result.stderr
    facts = json.loads(result.stdout)
    assert facts["package"] == "my_average"
    assert facts["image"] == "localhost/my-average:latest"
    for relative in (
        "pyproject.toml",
        "README.md",
        "Containerfile",
        ".containerignore",
        "my_average/__init__.py",
        "my_average/central.py",
        "my_average/partial.py",
        "tests/test_my_average.py",
        "vendor/vantage6_algorithm/mock_client.py",
        "vendor/vantage6_common/serialization.py",
        "vendor/vantage6_datasource_csv/__init__.py",  # the loaders @data uses
        "vendor/vantage6_datasource_sql/source.py",
    ):
        assert (target / relative).is_file(), relative
    containerfile = (target / "Containerfile").read_text()
    assert "FROM localhost/v6-base" in containerfile and "ENV PKG_NAME=my_average" in containerfile
    assert "MockAlgorithmClient" in (target / "tests" / "test_my_average.py").read_text()
    assert "{{" not in "".join(p.read_text() for p in target.rglob("*.py"))

    # the generated package passes its own tests (in a fresh process, from its folder)
    tests = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=target,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert tests.returncode == 0, tests.stdout + tests.stderr
    assert "4 passed" in tests.stdout
    # and is lint-clean
    ruff = Path(sys.executable).with_name("ruff")
    lint = subprocess.run(
        [str(ruff), "check", "my_average", "tests"],
        cwd=target,
        capture_output=True,
        text=True,
    )
    assert lint.returncode == 0, lint.stdout


def test_algorithm_create_refusals(v6, tmp_path):
    target = tmp_path / "taken"
    target.mkdir()
    (target / "keep.txt").write_text("mine")
    busy = v6("algorithm", "create", "taken", "--directory", target)
    assert busy.exit_code == 5 and "--force" in busy.stderr
    assert v6("algorithm", "create", "taken", "--directory", target, "--force").exit_code == 0
    assert (target / "keep.txt").read_text() == "mine"
    bad = v6("algorithm", "create", "1-bad", "--directory", tmp_path / "x")
    assert bad.exit_code == 2 and "invalid algorithm name" in bad.stderr
    assert v6("algorithm", "build", tmp_path).exit_code == 2  # no Containerfile there


# -- completion ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("shell", "marker"),
    [("bash", "complete -o nosort -F"), ("zsh", "compdef"), ("fish", "complete --no-files")],
)
def test_completion_scripts(v6, shell, marker):
    result = v6("completion", shell)
    assert result.exit_code == 0
    assert "_V6_COMPLETE" in result.stdout and marker in result.stdout
    assert "eval" in result.stderr or "completions" in result.stderr  # how to install it


def _complete(env, shell: str, words: str, cword: int) -> str:
    extra = {"_V6_COMPLETE": f"{shell}_complete", "COMP_WORDS": words, "COMP_CWORD": str(cword)}
    return run_v6(env, **extra).stdout


def test_completion_answers(v6env, v6):
    assert v6("server", "new", "alpha", "--no-input").exit_code == 0
    assert "server" in _complete(v6env, "bash", "v6 ser", 1)
    assert "start" in _complete(v6env, "bash", "v6 server st", 2)
    assert "alpha" in _complete(v6env, "bash", "v6 server start al", 3)
    assert "--json" in _complete(v6env, "bash", "v6 server list --j", 3)
    assert "server" in _complete(v6env, "zsh", "v6 ser", 1)
    fish = run_v6(v6env, _V6_COMPLETE="fish_complete", COMP_WORDS="v6 ser", COMP_CWORD="ser")
    assert "server" in fish.stdout


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_completion_script_loads_in_the_shell(v6env, shell):
    if shutil.which(shell) is None:
        pytest.skip(f"{shell} is not installed")
    script = {
        "bash": f'eval "$({V6} completion bash)" && complete -p v6',
        "zsh": f'autoload -Uz compinit && compinit -u && eval "$({V6} completion zsh)" '
        "&& echo loaded",
        "fish": f"{V6} completion fish | source; and complete -c v6 | head -n 1",
    }[shell]
    done = subprocess.run(
        [shell, "-c", script], capture_output=True, text=True, env=v6env.environ(), timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip()


# -- output rules ------------------------------------------------------------------------------
def test_data_on_stdout_messages_on_stderr(v6env):
    done = run_v6(v6env, "server", "new", "quiet", "--no-input", "--json")
    assert done.returncode == 0
    json.loads(done.stdout)  # nothing but the data
    table = run_v6(v6env, "server", "new", "loud", "--no-input")
    assert "created" in table.stderr and "created" not in table.stdout
    assert "root_password_file" in table.stdout
    listed = run_v6(v6env, "server", "list", "--json")
    assert json.loads(listed.stdout)[0]["name"] == "loud" and listed.stderr == ""


def _color_codes(text: str) -> list[str]:
    import re

    found = []
    for params in re.findall(r"\x1b\[([0-9;]*)m", text):
        codes = [int(p) for p in params.split(";") if p]
        if any(30 <= c <= 38 or 90 <= c <= 97 or 40 <= c <= 48 for c in codes):
            found.append(params)
    return found


@pytest.mark.parametrize("no_color", [False, True])
def test_no_color_is_respected_in_a_terminal(v6env, no_color):
    pexpect = pytest.importorskip("pexpect")
    env = v6env.environ()
    env.pop("NO_COLOR", None)
    if no_color:
        env["NO_COLOR"] = "1"
    env["TERM"] = "xterm-256color"
    child = pexpect.spawn(
        V6,
        ["server", "new", "tinted", "--no-input"],
        env=env,
        encoding="utf-8",
        dimensions=(40, 160),
        timeout=60,
    )
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    text = child.before
    assert "created" in text
    if no_color:
        assert _color_codes(text) == []
    else:
        assert _color_codes(text)
