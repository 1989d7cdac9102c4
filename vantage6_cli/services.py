"""What the wizards of ``v6 server new`` and ``v6 store new`` share: where the service
listens, its database, and the ports that the servers and stores configured here use."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from vantage6_cli import configs
from vantage6_cli.dbcheck import database_problem
from vantage6_cli.errors import CliError
from vantage6_cli.instances import SERVICES, Instance, list_instances
from vantage6_cli.wizard import Question

#: the port a server or store listens on when its file names none (as in their settings; not
#: read from there to keep ``v6`` quick to start; a test compares them)
DEFAULT_PORTS = {"server": 7601, "store": 7602}


def ports_in_use(exclude: Path | None = None) -> dict[int, str]:
    """Ports of the servers and stores configured here (``port -> "KIND 'NAME' (FILE)"``),
    except the one whose configuration file is ``exclude``."""
    taken: dict[int, str] = {}
    for kind in SERVICES:
        for instance in list_instances(kind):
            if instance.config_file == exclude:
                continue
            try:
                port = configs.read_yaml(instance.config_file).get("port", DEFAULT_PORTS[kind])
            except CliError:
                continue
            if isinstance(port, int):
                taken.setdefault(port, f"{instance.label} ({instance.config_file})")
    return taken


def port_problem(value: int, taken: dict[int, str]) -> str | None:
    if not 1 <= int(value) <= 65535:
        return "must be 1-65535"
    if int(value) in taken:
        return f"port {value} is already used by {taken[int(value)]}"
    return None


def listen_questions(
    kind: str, data_dir: Path, taken: dict[int, str], check_database: bool = True
) -> list[Question]:
    """Interface, port (not one in ``taken``), API path and database of a server or store;
    the database is tried unless ``check_database`` is false."""
    default = next(p for p in range(DEFAULT_PORTS[kind], 65536) if p not in taken)
    return [
        Question("host", "--host", "Interface to listen on", default="127.0.0.1"),
        Question(
            "port",
            "--port",
            "Port",
            kind="int",
            default=default,
            validate=lambda v: port_problem(v, taken),
        ),
        Question("api_path", "--api-path", "API path", default="/api"),
        Question(
            "database_uri",
            "--database-uri",
            "Database (SQLAlchemy URI)",
            default=f"sqlite:///{data_dir / f'{kind}.sqlite'}",
            validate=(lambda v: database_problem(str(v), data_dir)) if check_database else None,
        ),
    ]


def listen_options(kind: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """The flags of :func:`listen_questions` (``--host``, ``--port``, ``--api-path``,
    ``--database-uri``) and ``--check/--no-check`` for the database."""

    def decorate(func: Callable[..., Any]) -> Callable[..., Any]:
        for option in reversed(
            [
                click.option("--host", help="Interface to listen on.  [default: 127.0.0.1]"),
                click.option(
                    "--port",
                    type=int,
                    help="Port to listen on; not one another server or store here uses.  "
                    f"[default: {DEFAULT_PORTS[kind]}, or the next free one]",
                ),
                click.option("--api-path", help="Path of the REST API.  [default: /api]"),
                click.option(
                    "--database-uri",
                    help="SQLAlchemy URI of the database.  [default: SQLite file in the data "
                    "folder]",
                ),
                click.option(
                    "--check/--no-check",
                    default=True,
                    show_default=True,
                    help="Connect to the database now (it must exist and answer).",
                ),
            ]
        ):
            func = option(func)
        return func

    return decorate


def write_config(instance: Instance, data: dict[str, Any], private: bool = False) -> Any:
    """Write a new server's or store's configuration (and make its data folder); returns the
    settings as the service will read them. A configuration the service would refuse is not
    kept (CliError). ``private`` files (with secrets) are readable by the owner only."""
    before = instance.config_file.read_bytes() if instance.config_file.is_file() else None
    instance.data_dir.mkdir(parents=True, exist_ok=True)
    configs.write_yaml(
        instance.config_file,
        data,
        header=configs.HEADER.format(kind=instance.kind, name=instance.name),
        private=private,
    )
    try:
        return configs.validate_service(instance)
    except CliError:
        if before is None:
            instance.config_file.unlink(missing_ok=True)
        else:
            instance.config_file.write_bytes(before)
        raise
