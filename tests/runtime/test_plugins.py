"""Runtime plugins: how they are found and that nothing else names them (what they may import
is an import contract in pyproject.toml, checked by tests/architecture)."""

from __future__ import annotations

import re
from importlib.metadata import EntryPoint
from pathlib import Path

import pytest

import vantage6_node.runtime as runtime_module
from vantage6_node.config import NodeConfig
from vantage6_node.runtime import (
    ENTRY_POINT_GROUP,
    ContainerRuntime,
    UnknownRuntime,
    available_runtimes,
    preferred_runtime,
    runtime_class,
)

REPO = Path(__file__).resolve().parents[2]
PLUGINS = REPO / "plugins"
RUNTIME_NAME = re.compile(r"\b(podman|docker)\b", re.IGNORECASE)


def _python_files(*folders: Path) -> list[Path]:
    return [path for folder in folders for path in sorted(folder.rglob("*.py"))]


def test_node_and_cli_know_no_runtime_by_name() -> None:
    named = [
        f"{path.relative_to(REPO)}:{number}: {line.strip()}"
        for path in _python_files(REPO / "vantage6_node", REPO / "vantage6_cli")
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if RUNTIME_NAME.search(line)
    ]
    assert named == []


def test_plugins_are_not_installed_as_a_package_named_plugins() -> None:
    assert not (PLUGINS / "__init__.py").exists()
    pyproject = (REPO / "pyproject.toml").read_text()
    assert '"plugins*"' not in pyproject and '= "plugins.' not in pyproject


def test_every_registered_backend_loads_and_one_is_preferred() -> None:
    names = available_runtimes()
    assert names
    for name in names:
        cls = runtime_class(name)
        assert issubclass(cls, ContainerRuntime) and cls.name == name and cls.install_hint
    best = preferred_runtime()
    assert best in names
    assert all(runtime_class(n).preference <= runtime_class(best).preference for n in names)


def test_configuration_without_runtime_gets_the_preferred_one(tmp_path: Path) -> None:
    config = NodeConfig(server_url="http://localhost", api_key="k", task_dir=tmp_path)
    assert config.runtime == preferred_runtime()


def test_stale_entry_point_falls_back_to_the_plugin_package(monkeypatch) -> None:
    """Metadata installed before a plugin moved still finds it under vantage6_runtime_<name>."""
    name = available_runtimes()[0]
    cls = runtime_class(name)
    stale = EntryPoint(name, f"gone_package.old_module:{cls.__name__}", ENTRY_POINT_GROUP)
    missing = EntryPoint("nowhere", "gone_package.old_module:Nothing", ENTRY_POINT_GROUP)
    monkeypatch.setattr(runtime_module, "_entry_points", lambda: {name: stale, "nowhere": missing})
    assert runtime_class(name) is cls
    with pytest.raises(UnknownRuntime, match="cannot be imported.*reinstall"):
        runtime_class("nowhere")
