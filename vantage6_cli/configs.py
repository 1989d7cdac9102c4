"""Reading, validating and writing server, store and node configuration files (YAML).

Validation uses the server's, the store's and the node's own schemas, so ``v6`` accepts exactly
what the programs accept. Every error names the file and the key.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

from vantage6_cli.errors import CONFIG, CliError
from vantage6_cli.instances import Instance, list_instances

HEADER = (
    "# {kind} configuration written by `v6 {kind} new`.\n"
    "# Check it with `v6 {kind} files {name}`; it is validated on every start.\n"
)


def read_yaml(path: Path) -> dict[str, Any]:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise CliError(f"{path}: cannot read: {exc.strerror or exc}", CONFIG) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise CliError(f"{path}: not valid YAML: {exc}", CONFIG) from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise CliError(f"{path}: the top level must be a mapping of keys to values", CONFIG)
    return data


def write_yaml(path: Path, data: dict[str, Any], header: str = "", private: bool = False) -> None:
    """Write ``data`` atomically; ``private`` files are readable by the owner only."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    text = header + yaml.safe_dump(data, sort_keys=False, default_flow_style=False)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600 if private else 0o644)
    with os.fdopen(fd, "w", encoding="utf-8") as fp:
        fp.write(text)
    os.replace(tmp, path)


def write_secret(path: Path, value: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fp:
        fp.write(value + "\n")
    os.chmod(path, 0o600)


# -- server and store -----------------------------------------------------------------------
def settings_class(kind: str) -> Any:
    """The settings class of a service kind: ``server`` or ``store``."""
    if kind == "store":
        from vantage6_store.settings import StoreSettings

        return StoreSettings
    from vantage6_server.settings import ServerSettings

    return ServerSettings


def validate_service(instance: Instance) -> Any:
    """The settings of a server or store from the instance's file (raises CliError on
    problems), read by the service's own settings class."""
    from vantage6_common.settings_file import ConfigError, load_yaml_settings

    read_yaml(instance.config_file)  # clearer messages for unreadable files
    try:
        return load_yaml_settings(settings_class(instance.kind), instance.config_file)
    except ConfigError as exc:
        raise CliError(_settings_message(str(exc), instance.config_file), CONFIG) from None


def validate_server(instance: Instance) -> Any:
    """The server's settings from the instance's file (raises CliError on problems)."""
    return validate_service(instance)


def newest_server() -> tuple[Instance, Any] | None:
    """The server configured here that was made (or changed) last, with its settings: the
    wizards' default server (e.g. the one ``v6 server new`` just made)."""
    found = []
    for instance in list_instances("server"):
        try:
            found.append((instance.config_file.stat().st_mtime, instance))
        except OSError:
            continue
    for _, instance in sorted(found, key=lambda item: item[0], reverse=True):
        try:
            return instance, validate_server(instance)
        except CliError:
            continue
    return None


def _settings_message(text: str, path: Path) -> str:
    prefix = f"{path}: "
    body = text[len(prefix) :] if text.startswith(prefix) else text
    parts = [p.strip() for p in body.split(";") if p.strip()]
    lines = []
    for part in parts:
        key, sep, msg = part.partition(":")
        if "Extra inputs are not permitted" in msg:
            msg = " unknown key (check the spelling)"
        lines.append(f"  {key}:{msg}" if sep else f"  {part}")
    return f"{path} is invalid:\n" + "\n".join(lines)


def server_api_url(settings: Any) -> str:
    """The API URL of a server or store (loopback when it listens on every interface)."""
    host = settings.host
    if host in ("0.0.0.0", "::", ""):
        host = "127.0.0.1"
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"http://{host}:{settings.port}{settings.api_path}"


# -- node ------------------------------------------------------------------------------------
def validate_node(instance: Instance, check_files: bool = True) -> Any:
    """The node's configuration (raises CliError naming the file and the keys)."""
    from vantage6_node.config import ConfigError, parse_config

    data = read_yaml(instance.config_file)
    try:
        config = parse_config(
            data,
            instance.config_file.parent,
            check_files=check_files,
            source=str(instance.config_file),
        )
    except ConfigError as exc:
        text = str(exc)
        lines = text.splitlines()
        if len(lines) > 1:
            text = lines[0] + "\n" + "\n".join(f"  {line}" for line in lines[1:])
        raise CliError(text, CONFIG) from None
    if config.task_dir is None:
        config.task_dir = instance.data_dir / "tasks"
    return config
