"""Node configuration: vantage6 keys, validation with errors naming the key."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from vantage6_node.config import ConfigError, load_config, parse_config, parse_memory


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "node.yaml"
    path.write_text(textwrap.dedent(text))
    return path


def test_vantage6_style_file(tmp_path):
    (tmp_path / "data.csv").write_text("a,b\n1,2\n")
    (tmp_path / "db.sqlite").write_bytes(b"")
    path = _write(
        tmp_path,
        """
        api_key: abc-123
        server_url: http://localhost
        port: 7601
        api_path: /api
        task_dir: tasks
        databases:
          - label: default
            uri: data.csv
            type: csv
          - label: warehouse
            uri: sqlite:///db.sqlite
            type: sql
          - label: pg
            uri: postgresql://u:p@db.example.org/clinic
            type: sql
            env: {schema: public}
        encryption:
          enabled: false
          private_key: null
        policies:
          allowed_algorithms: localhost/v6-demo
          allowed_organizations: [1, "Hospital"]
          require_algorithm_pull: false
        algorithm_env:
          TOOL_MODE: fast
        logging: {level: DEBUG, file: node.log}
        runtime: podman
        limits: {cpus: 1.5, memory: 512m}
        """,
    )
    config = load_config(path)
    assert config.api_url == "http://localhost:7601/api"
    assert config.server_root == "http://localhost:7601"
    assert config.task_dir == (tmp_path / "tasks").resolve()
    assert config.databases[0].uri == str((tmp_path / "data.csv").resolve())
    assert config.databases[1].uri == f"sqlite:///{(tmp_path / 'db.sqlite').resolve()}"
    assert config.databases[2].env == {"schema": "public"}
    assert config.policies.allowed_algorithms == ["localhost/v6-demo"]
    assert config.policies.allowed_organizations == [1, "Hospital"]
    assert config.limits.memory == 512 * 1024**2
    assert config.limits.cpus == 1.5
    assert config.algorithm_env == {"TOOL_MODE": "fast"}
    assert config.runtime == "podman"


def test_defaults_and_task_dir(tmp_path):
    path = _write(tmp_path, "api_key: k\nserver_url: https://v6.example.org/\n")
    config = load_config(path)
    assert config.api_url == "https://v6.example.org/api"
    assert config.task_dir == (tmp_path / "node-data").resolve()
    assert config.policies.require_algorithm_pull is True  # vantage6's default
    assert config.encryption.enabled is False
    assert config.proxy.port == 8080


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"server_url": "http://x"}, "api_key: is required"),
        ({"api_key": "k"}, "server_url: is required"),
        ({"api_key": "k", "server_url": "ftp://x"}, "server_url: must be an http(s) URL"),
        ({"api_key": "k", "server_url": "http://x", "port": 0}, "port:"),
        ({"api_key": "k", "server_url": "http://x:5000", "port": 5000}, "contains a port"),
        ({"api_key": "k", "server_url": "http://x", "api_path": "api"}, "api_path: must start"),
        ({"api_key": "k", "server_url": "http://x", "tpyo": 1}, "tpyo: unknown key"),
        (
            {"api_key": "k", "server_url": "http://x", "databases": [{"label": "1x", "uri": "a"}]},
            "databases[0].label: must start with a letter",
        ),
        (
            {
                "api_key": "k",
                "server_url": "http://x",
                "databases": [{"label": "a", "uri": "x", "type": "xls"}],
            },
            "databases[0].type:",
        ),
        (
            {
                "api_key": "k",
                "server_url": "http://x",
                "databases": [{"label": "a", "uri": "missing.csv", "type": "csv"}],
            },
            "does not exist",
        ),
        (
            {
                "api_key": "k",
                "server_url": "http://x",
                "databases": [{"label": "a", "uri": "not a url", "type": "sql"}],
            },
            "is not an SQLAlchemy URL",
        ),
        (
            {
                "api_key": "k",
                "server_url": "http://x",
                "databases": [
                    {"label": "a", "uri": "sqlite://", "type": "sql"},
                    {"label": "A", "uri": "sqlite://", "type": "sql"},
                ],
            },
            "databases: label 'A' is used more than once",
        ),
        (
            {"api_key": "k", "server_url": "http://x", "policies": {"allowed_algorithms": ["a("]}},
            "policies.allowed_algorithms: 'a(' is not a valid regular expression",
        ),
        (
            {"api_key": "k", "server_url": "http://x", "algorithm_env": {"INPUT_FILE": "x"}},
            "algorithm_env: 'INPUT_FILE' is set by the node",
        ),
        (
            {"api_key": "k", "server_url": "http://x", "algorithm_env": {"bad-name": "x"}},
            "algorithm_env: 'bad-name' is not a valid environment variable name",
        ),
        (
            {"api_key": "k", "server_url": "http://x", "limits": {"memory": "lots"}},
            "limits.memory: 'lots' is not a size",
        ),
        (
            {"api_key": "k", "server_url": "http://x", "limits": {"memory": "1k"}},
            "limits.memory: must be at least 6m",
        ),
        ({"api_key": "k", "server_url": "http://x", "limits": {"cpus": 0}}, "limits.cpus:"),
        (
            {"api_key": "k", "server_url": "http://x", "encryption": {"enabled": "maybe"}},
            "encryption.enabled:",
        ),
    ],
)
def test_errors_name_the_key(tmp_path, data, expected):
    with pytest.raises(ConfigError) as info:
        parse_config(data, tmp_path)
    assert expected in str(info.value)


def test_all_problems_reported_at_once(tmp_path):
    with pytest.raises(ConfigError) as info:
        parse_config({"server_url": "gopher://x", "port": -1, "foo": 1}, tmp_path)
    text = str(info.value)
    for key in ("api_key:", "server_url:", "port:", "foo:"):
        assert key in text


def test_unreadable_and_non_mapping_files(tmp_path):
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "nope.yaml")
    path = _write(tmp_path, "- a\n- b\n")
    with pytest.raises(ConfigError, match="mapping"):
        load_config(path)
    path = _write(tmp_path, "api_key: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(path)


@pytest.mark.parametrize(
    ("text", "size"),
    [("512m", 512 * 1024**2), ("2g", 2 * 1024**3), ("1.5GiB", int(1.5 * 1024**3)), (1000, 1000)],
)
def test_memory_sizes(text, size):
    assert parse_memory(text) == size


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "vantage6_node", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=Path(__file__).resolve().parents[2],
    )


def test_cli_reports_config_errors(tmp_path):
    path = _write(tmp_path, "api_key: k\nserver_url: http://x\nport: 99999\ndatabases: 3\n")
    proc = _cli("--config", str(path))
    assert proc.returncode == 2
    assert "port:" in proc.stderr and "databases:" in proc.stderr
    good = _write(tmp_path, "api_key: k\nserver_url: http://x\n")
    proc = _cli("--config", str(good), "--check")
    assert proc.returncode == 0, proc.stderr
    assert "valid" in proc.stdout
