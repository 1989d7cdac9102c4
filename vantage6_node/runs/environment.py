"""What an algorithm container gets: environment variables, mounts and database relays.

Variables and their meaning follow the vantage6 algorithm interface (facts file); every value
is base32-encoded as vantage6 does (:mod:`vantage6_common.envcoding`). Only the databases the
task asks for are mounted (read-only) and described; a station's other data stays invisible.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vantage6_common.envcoding import encode_environment
from vantage6_common.labels import LABEL_RULE, is_valid_label
from vantage6_node.config import NodeConfig
from vantage6_node.runs.folder import CONTAINER_DATA_DIR, CONTAINER_DB_DIR, CONTAINER_TMP_DIR

log = logging.getLogger(__name__)

PROXY_HOST_IN_CONTAINER = "http://127.0.0.1"


@dataclass(frozen=True)
class DatabaseMount:
    source: str
    target: str


@dataclass(frozen=True)
class DatabaseRelay:
    """A network database reachable from the container at 127.0.0.1:``local_port``."""

    label: str
    local_port: int
    host: str
    port: int

    @property
    def socket_name(self) -> str:
        return f"db-{self.label}.sock"


@dataclass
class ContainerPlan:
    env: dict[str, str]
    mounts: list[DatabaseMount] = field(default_factory=list)
    relays: list[DatabaseRelay] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def encoded_env(self) -> dict[str, str]:
        return encode_environment(self.env)


def parse_parameters(raw: Any) -> dict[str, Any]:
    """``task.databases[i].parameters``: a JSON string (vantage6) or a mapping."""
    if not raw:
        return {}
    if isinstance(raw, dict):
        return raw
    if isinstance(raw, str):
        try:
            value = json.loads(raw)
        except ValueError:
            return {}
        return value if isinstance(value, dict) else {}
    return {}


_DEFAULT_PORTS = {"postgresql": 5432, "mysql": 3306, "mariadb": 3306, "mssql": 1433}


def network_database(uri: str) -> tuple[str, int] | None:
    """``(host, port)`` of an SQL database reached over the network, else None."""
    from sqlalchemy.engine import make_url

    try:
        url = make_url(uri)
    except Exception:  # noqa: BLE001 - validated at start; be lenient here
        return None
    backend = url.get_backend_name()
    if backend == "sqlite" or not url.host:
        return None
    port = url.port or _DEFAULT_PORTS.get(backend)
    if port is None:
        return None
    return url.host, int(port)


def relay_port(config: NodeConfig, label: str) -> int:
    for index, db in enumerate(config.databases):
        if db.label == label:
            return config.isolation.database_port_base + index
    raise KeyError(label)


def database_relays(config: NodeConfig) -> list[DatabaseRelay]:
    """Relays for every configured network SQL database (the forwarder listens on all)."""
    relays = []
    for db in config.databases:
        if db.type != "sql":
            continue
        target = network_database(db.uri)
        if target:
            relays.append(DatabaseRelay(db.label, relay_port(config, db.label), *target))
    return relays


def _suffix(path: str) -> str:
    return "".join(Path(path).suffixes[-1:])


def requested_labels(requested: Any) -> list[str]:
    """The distinct database labels a task asks for, in order.

    ``ValueError`` when one of them is not a valid label: it would become part of
    environment variable names (``=`` in a label could set any variable, CVE-2024-21649).
    """
    if requested is None:
        return []
    if not isinstance(requested, list):
        raise ValueError("databases are not a list")
    labels: list[str] = []
    for item in requested:
        label = item.get("label") if isinstance(item, dict) else None
        if not is_valid_label(label):
            shown = repr(label)[:80]
            raise ValueError(
                f"database label {shown} {LABEL_RULE} (it would become part of environment "
                "variable names)"
            )
        if label not in labels:
            labels.append(label)
    return labels


def build_plan(
    config: NodeConfig, requested: list[dict[str, Any]], proxy_port: int | None = None
) -> ContainerPlan:
    """Environment, mounts and relays for a run that asked for ``requested`` databases.

    ``ValueError`` for a database label that is not valid (see :func:`requested_labels`).
    """
    port = proxy_port if proxy_port is not None else config.proxy.port
    env: dict[str, str] = {
        "INPUT_FILE": f"{CONTAINER_DATA_DIR}/input",
        "OUTPUT_FILE": f"{CONTAINER_DATA_DIR}/output",
        "TOKEN_FILE": f"{CONTAINER_DATA_DIR}/token",
        "TEMPORARY_FOLDER": CONTAINER_TMP_DIR,
        "HOST": PROXY_HOST_IN_CONTAINER,
        "PORT": str(port),
        "API_PATH": "",
    }
    plan = ContainerPlan(env=env)
    labels = requested_labels(requested)
    for label in labels:
        item = next(i for i in requested if isinstance(i, dict) and i.get("label") == label)
        params = parse_parameters(item.get("parameters"))
        upper = label.upper()
        for key in ("query", "sheet_name"):
            if params.get(key) is not None:
                env[f"{upper}_{key.upper()}"] = str(params[key])
        if params.get("preprocessing") is not None:
            env[f"{upper}_PREPROCESSING"] = json.dumps(params["preprocessing"])
    env["USER_REQUESTED_DATABASE_LABELS"] = ",".join(labels)

    available: list[str] = []
    for label in labels:
        db = config.database(label)
        if db is None:
            message = (
                f"the task asks for database {label!r}, which this node does not have "
                f"(it has: {', '.join(d.label for d in config.databases) or 'none'})"
            )
            log.warning(message)
            plan.warnings.append(message)
            continue
        available.append(label)
        upper = label.upper()
        uri = db.uri
        if db.type == "sql":
            target = network_database(db.uri)
            if target is not None:
                from sqlalchemy.engine import make_url

                local = relay_port(config, label)
                plan.relays.append(DatabaseRelay(label, local, *target))
                uri = (
                    make_url(db.uri)
                    .set(host="127.0.0.1", port=local)
                    .render_as_string(hide_password=False)
                )
            else:
                from sqlalchemy.engine import make_url

                url = make_url(db.uri)
                if url.database and url.database != ":memory:":
                    target_path = f"{CONTAINER_DB_DIR}/{label}{_suffix(url.database) or '.db'}"
                    plan.mounts.append(DatabaseMount(url.database, target_path))
                    uri = url.set(database=target_path).render_as_string(hide_password=False)
        elif db.is_file and Path(db.uri).exists():
            target_path = f"{CONTAINER_DB_DIR}/{label}{_suffix(db.uri)}"
            plan.mounts.append(DatabaseMount(db.uri, target_path))
            uri = target_path
        env[f"{upper}_DATABASE_URI"] = uri
        env[f"{upper}_DATABASE_TYPE"] = db.type
        for key, value in db.env.items():
            env[f"{upper}_DB_PARAM_{key.upper()}"] = value
    env["DB_LABELS"] = ",".join(available)

    for key, value in config.algorithm_env.items():
        env[key] = value
    return plan
