"""The import contracts in pyproject.toml hold today, and each one fails when a forbidden import
is put into a copy of the packages (so ``lint-imports`` in scripts/test.sh is a real check)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CONFIG = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["importlinter"]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")

pytestmark = pytest.mark.skipif(
    not LINT_IMPORTS.exists(), reason="install the test extra: pip install -e '.[test]'"
)


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of our packages (plugins beside them) and of pyproject.toml, to break on purpose."""
    root = tmp_path_factory.mktemp("tree")
    for package in CONFIG["root_packages"]:
        source = REPO / package if (REPO / package).is_dir() else REPO / "plugins" / package
        shutil.copytree(source, root / package, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "pyproject.toml", root / "pyproject.toml")
    return root


def lint_imports(root: Path, *contracts: str) -> subprocess.CompletedProcess[str]:
    """``lint-imports`` on the packages in ``root`` (only ``contracts``, when given)."""
    argv = [str(LINT_IMPORTS), "--no-cache", "--no-logo", str(root / "pyproject.toml")]
    for contract in contracts:
        argv += ["--contract", contract]
    env = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run(argv, cwd=root, env=env, capture_output=True, text=True, timeout=120)


def test_every_contract_is_kept(tree: Path) -> None:
    done = lint_imports(tree)
    assert done.returncode == 0, done.stdout + done.stderr
    ids = {contract["id"] for contract in CONFIG["contracts"]}
    assert f"Contracts: {len(ids)} kept, 0 broken." in done.stdout


# (file to change, import to add, contract that must then fail)
VIOLATIONS = [
    ("vantage6_common/status.py", "import vantage6_server.settings", "common-alone"),
    (
        "vantage6_common/retry.py",
        "import vantage6_common.service.errors",
        "common-service-on-demand",
    ),
    ("vantage6_node/config.py", "import vantage6_client", "layers"),
    ("vantage6_server/db/__init__.py", "import vantage6_cli.output", "layers"),
    (
        "vantage6_runtime_docker/runtime.py",
        "import vantage6_node.config",
        "plugins-use-runtime-interface",
    ),
    ("vantage6_node/runtime/base.py", "import vantage6_node.status", "runtime-interface-alone"),
    (
        "vantage6_storage_s3/backend.py",
        "import vantage6_server.settings",
        "storage-plugins-use-storage-interface",
    ),
    ("vantage6_server/rbac/policy.py", "import vantage6_server.api", "rbac-below-api"),
    ("vantage6_cli/completion.py", "import vantage6_cli.main", "no-cycles"),
]


@pytest.mark.parametrize(("path", "line", "contract"), VIOLATIONS)
def test_a_forbidden_import_breaks_its_contract(
    tree: Path, path: str, line: str, contract: str
) -> None:
    target = tree / path
    original = target.read_text()
    target.write_text(original + f"\n{line}  # injected by the test\n")
    try:
        done = lint_imports(tree, contract)
    finally:
        target.write_text(original)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "1 broken" in done.stdout, done.stdout
    module = line.split()[1]
    assert module.rsplit(".", 1)[-1] in done.stdout  # the report names the forbidden module
