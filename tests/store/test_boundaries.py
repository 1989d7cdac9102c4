"""The store is its own service: it imports only vantage6_common of this project."""

from __future__ import annotations

import ast
from pathlib import Path

STORE = Path(__file__).resolve().parents[2] / "vantage6_store"
OURS = ("vantage6_server", "vantage6_node", "vantage6_client", "vantage6_cli", "vantage6_algorithm")


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_store_imports_only_vantage6_common() -> None:
    files = list(STORE.rglob("*.py"))
    assert len(files) > 15
    wrong = {
        f"{path.relative_to(STORE)}: {name}"
        for path in files
        for name in _imports(path)
        if name.split(".")[0] in OURS
    }
    assert not wrong, wrong
