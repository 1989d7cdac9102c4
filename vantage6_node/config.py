"""Node configuration: a YAML file with the vantage6 node keys, validated at start.

Relative paths in the file (databases, task_dir, private key) are taken relative to the
directory of the configuration file. Every problem is reported as ``key.path: what is wrong``
so that an operator can fix the file without reading code.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from vantage6_common.datasources import (
    PASS_THROUGH_TYPES,
    DataSourceError,
    accepted_types,
    data_source,
)
from vantage6_common.labels import check_label
from vantage6_node.runtime import available_runtimes, preferred_runtime

log = logging.getLogger(__name__)


#: Environment variables the node sets itself; ``algorithm_env`` may not replace them.
RESERVED_ENV = frozenset(
    {
        "INPUT_FILE",
        "OUTPUT_FILE",
        "TOKEN_FILE",
        "TEMPORARY_FOLDER",
        "HOST",
        "PORT",
        "API_PATH",
        "USER_REQUESTED_DATABASE_LABELS",
        "DB_LABELS",
        "PKG_NAME",
    }
)

#: Keys of vantage6 node configuration files that this node accepts but does not use.
IGNORED_VANTAGE6_KEYS = frozenset(
    {
        "logging",
        "vpn_subnet",
        "docker_registries",
        "ssh_tunnels",
        "whitelist",
        "node_extra_env",
        "node_extra_mounts",
        "node_extra_hosts",
        "algorithm_device_requests",
        "dev",
        "debug",
        "prometheus",
        "write_run_context_file",
        "task_dir_extension",
        "server_ssl_cert",
    }
)

_USER_RE = re.compile(r"[0-9]{1,9}:[0-9]{1,9}")
DEFAULT_CONTAINER_USER = "65534:65534"
DEFAULT_MAX_OUTPUT = 32 * 1024 * 1024
#: largest input or result of a run whose data are blobs (the server's blob store is in use)
DEFAULT_MAX_BLOB = 8 * 1024**3
_ENV_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_MEMORY_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(i?b?)\s*$", re.IGNORECASE)
_MEMORY_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}
#: heuristic of vantage6: a policy entry containing one of these is a regular expression
REGEX_MARKERS = ("*", "\\", "?", "$", "^", "[", "]", "(", ")", "{", "}", "|", "+", "\\.")


class ConfigError(ValueError):
    """The configuration file is missing, unreadable or invalid; the message lists why."""


def looks_like_regex(pattern: str) -> bool:
    """Whether a policy entry is meant as a regular expression (vantage6's heuristic)."""
    return any(marker in pattern for marker in REGEX_MARKERS)


def parse_memory(value: int | float | str) -> int:
    """``"512m"``, ``"2g"``, ``"1.5GiB"`` or a number of bytes -> bytes."""
    if isinstance(value, bool):
        raise ValueError("must be a size such as 512m or 2g")
    if isinstance(value, int | float):
        return int(value)
    match = _MEMORY_RE.match(value)
    if not match:
        raise ValueError(f"{value!r} is not a size such as 512m, 2g or a number of bytes")
    number, unit, _ = match.groups()
    return int(float(number) * _MEMORY_UNITS[unit.lower()])


def _base_dir(info: ValidationInfo) -> Path:
    ctx = info.context or {}
    return Path(ctx.get("base_dir", "."))


def _resolve(path: str | Path, info: ValidationInfo) -> Path:
    path = Path(path).expanduser()
    if not path.is_absolute():
        path = _base_dir(info) / path
    return path.resolve()


def _one_line(text: str, limit: int = 300) -> str:
    """``text`` with its whitespace runs (newlines too) made single spaces, cut to ``limit``."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class DatabaseConfig(_Strict):
    """One data source of this station."""

    label: str
    uri: str
    #: a data source type: an installed loader (entry point group ``vantage6.data_sources``)
    #: or one the algorithm reads itself (``sparql``, ``other``)
    type: str = "csv"
    #: extra parameters, handed to the algorithm as ``{LABEL}_DB_PARAM_{KEY}``
    env: dict[str, str] = Field(default_factory=dict)

    @field_validator("label")
    @classmethod
    def _label(cls, value: str) -> str:
        return check_label(value)

    @field_validator("type")
    @classmethod
    def _type(cls, value: str) -> str:
        accepted = accepted_types()
        if value not in accepted:
            raise ValueError(
                f"{value[:40]!r} is not an installed data source type "
                f"(installed: {', '.join(accepted)})"
            )
        return value

    @field_validator("env")
    @classmethod
    def _env(cls, value: dict[str, str]) -> dict[str, str]:
        for key in value:
            if not _ENV_NAME_RE.match(key):
                raise ValueError(f"{key!r} is not a valid environment variable name")
        return {k: str(v) for k, v in value.items()}

    @model_validator(mode="after")
    def _uri(self, info: ValidationInfo) -> DatabaseConfig:
        if self.type in PASS_THROUGH_TYPES:
            # a local path is mounted read-only, anything else passed as is
            candidate = Path(self.uri).expanduser()
            if not candidate.is_absolute() and "://" not in self.uri:
                candidate = _base_dir(info) / candidate
            if "://" not in self.uri and candidate.exists():
                self.uri = str(candidate.resolve())
            return self
        check_files = bool((info.context or {}).get("check_files", True))
        try:
            self.uri = data_source(self.type).check(self.uri, _base_dir(info), check_files)
        except DataSourceError as exc:
            raise ValueError(f"uri: {_one_line(str(exc))}") from exc
        except Exception as exc:  # noqa: BLE001 - a third-party plugin's bug, told in one line
            raise ValueError(
                f"uri: the {self.type} data source failed to check it "
                f"({type(exc).__name__}: {_one_line(str(exc))})"
            ) from exc
        return self

    @property
    def is_file(self) -> bool:
        """The URI is a local file the node mounts read-only into the algorithm's container."""
        if self.type in PASS_THROUGH_TYPES:
            return Path(self.uri).is_absolute()
        try:
            return data_source(self.type).file_based
        except DataSourceError:
            return False


class EncryptionConfig(_Strict):
    enabled: bool = False
    #: PEM file of this organization's RSA private key; created when missing
    private_key: Path | None = None
    #: kept for older configuration files; only "auto": the collaboration's encryption_scheme
    #: decides the payload format (a node-local choice would break other readers)
    scheme: str = "auto"
    #: write and accept only the authenticated format, whatever the collaboration declares
    require_authenticated: bool = False

    @field_validator("scheme")
    @classmethod
    def _scheme(cls, value: str) -> str:
        if value != "auto":
            raise ValueError(
                "only 'auto' is accepted: the payload format is the collaboration's "
                "encryption_scheme ('authenticated' requires it); to refuse the vantage6 format "
                "on this node set encryption.require_authenticated: true"
            )
        return value

    @field_validator("private_key")
    @classmethod
    def _key(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        return None if value is None else _resolve(value, info)


class Policies(_Strict):
    allowed_algorithms: list[str] | None = None
    allowed_algorithm_stores: list[str] | None = None
    allow_either_whitelist_or_store: bool = False
    allowed_users: list[int | str] = Field(default_factory=list)
    allowed_organizations: list[int | str] = Field(default_factory=list)
    require_algorithm_pull: bool = True
    allow_basics_algorithm: bool = True

    @field_validator("allowed_algorithms", "allowed_algorithm_stores", mode="before")
    @classmethod
    def _listify(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @field_validator("allowed_algorithms", "allowed_algorithm_stores")
    @classmethod
    def _regexes(cls, value: list[str] | None) -> list[str] | None:
        for entry in value or []:
            if not entry.strip():
                raise ValueError("entries may not be empty")
            if looks_like_regex(entry):
                try:
                    re.compile(entry)
                except re.error as exc:
                    raise ValueError(f"{entry!r} is not a valid regular expression: {exc}") from exc
        return value

    @field_validator("allowed_users", "allowed_organizations", mode="before")
    @classmethod
    def _list_or_none(cls, value: Any) -> Any:
        if value is None:
            return []
        return [value] if isinstance(value, int | str) else value


class RunLimits(_Strict):
    #: fraction of CPUs per algorithm container (0.5 = half a core)
    cpus: float | None = Field(default=None, gt=0)
    #: memory per algorithm container: bytes or a size such as 512m, 2g
    memory: int | None = None
    #: maximum number of processes in an algorithm container
    pids: int | None = Field(default=1024, gt=0)
    #: largest output file the node reads back from a container (bytes or 32m, 1g); a
    #: larger one fails the run
    max_output: int = DEFAULT_MAX_OUTPUT
    #: largest input and output file of a run whose data are blobs (the server has a blob
    #: store): both are streamed through the node's disk, never held in memory
    max_blob: int = DEFAULT_MAX_BLOB

    @field_validator("max_output", "max_blob", mode="before")
    @classmethod
    def _max_output(cls, value: Any) -> Any:
        size = parse_memory(value)
        if size < 1:
            raise ValueError("must be positive")
        return size

    @field_validator("memory", mode="before")
    @classmethod
    def _memory(cls, value: Any) -> Any:
        if value is None:
            return None
        size = parse_memory(value)
        if size < 6 * 1024 * 1024:
            raise ValueError("must be at least 6m (container engines refuse less)")
        return size


class ProxyConfig(_Strict):
    #: port on which the algorithm container reaches the node proxy (on its own loopback)
    port: int = Field(default=8080, ge=1, le=65535)
    #: how long the proxy keeps retrying while the server is unreachable
    server_retry_seconds: float = Field(default=300.0, ge=0)
    #: how long a ``GET /task/{id}/status`` of an unfinished task is held (waiting for a
    #: status event) before it is answered
    status_hold_seconds: float = Field(default=4.0, ge=0)


class IsolationConfig(_Strict):
    #: image of the forwarder container (needs python3)
    forwarder_image: str = "localhost/v6-base"
    #: forwarders kept started ahead of time, so that a run does not wait for one
    pool_size: int = Field(default=2, ge=0, le=32)
    #: directory of the unix sockets (short path; default: under /tmp)
    socket_dir: Path | None = None
    #: first loopback port used for relays to network databases
    database_port_base: int = Field(default=15400, ge=1024, le=65000)
    #: ``uid:gid`` algorithm containers run as (never root by default); null keeps the
    #: image's own user
    container_user: str | None = DEFAULT_CONTAINER_USER

    @field_validator("container_user")
    @classmethod
    def _user(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not _USER_RE.fullmatch(value):
            raise ValueError(f"must be numeric uid:gid such as 65534:65534, got {value!r}")
        return value

    @property
    def container_ids(self) -> tuple[int, int] | None:
        """``(uid, gid)`` of algorithm containers, or None for the image's own user."""
        if self.container_user is None:
            return None
        uid, gid = self.container_user.split(":")
        return int(uid), int(gid)

    @field_validator("socket_dir")
    @classmethod
    def _sock(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        return None if value is None else _resolve(value, info)


class NodeConfig(_Strict):
    """The validated node configuration."""

    api_key: str = Field(min_length=1)
    server_url: str
    port: int | None = Field(default=None, ge=1, le=65535)
    api_path: str = "/api"
    name: str | None = None
    task_dir: Path | None = None
    databases: list[DatabaseConfig] = Field(default_factory=list)
    encryption: EncryptionConfig = Field(default_factory=EncryptionConfig)
    policies: Policies = Field(default_factory=Policies)
    algorithm_env: dict[str, str] = Field(default_factory=dict)
    share_algorithm_logs: bool = True
    share_config: bool = True
    #: a registered ``vantage6.runtimes`` backend; default: the one that prefers itself most
    runtime: str = Field(default="", validate_default=True)
    #: passed to the backend (see its class docstring)
    runtime_options: dict[str, Any] = Field(default_factory=dict)
    limits: RunLimits = Field(default_factory=RunLimits)
    max_concurrent_runs: int = Field(default=16, ge=1)
    proxy: ProxyConfig = Field(default_factory=ProxyConfig)
    isolation: IsolationConfig = Field(default_factory=IsolationConfig)
    socket_transports: list[Literal["websocket", "polling"]] = Field(
        default_factory=lambda: ["websocket"]
    )
    #: ask the server for ``run_offer`` events (a run with its input and container token,
    #: sent before ``new_task``): no requests between a new task and its container start.
    #: A vantage6 server ignores the request and the node works from ``new_task`` as usual.
    run_offers: bool = True
    #: seconds between full catch-ups with the server while connected (safety net)
    resync_interval: float = Field(default=300.0, gt=0)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    @field_validator("server_url")
    @classmethod
    def _server_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"must be an http(s) URL such as http://localhost, got {value!r}")
        return value.rstrip("/")

    @field_validator("api_path")
    @classmethod
    def _api_path(cls, value: str) -> str:
        value = value.strip()
        if value and not value.startswith("/"):
            raise ValueError(f"must start with '/' (or be empty), got {value!r}")
        return value.rstrip("/")

    @field_validator("task_dir")
    @classmethod
    def _task_dir(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        return None if value is None else _resolve(value, info)

    @field_validator("algorithm_env", mode="before")
    @classmethod
    def _algo_env(cls, value: Any) -> Any:
        if value is None:
            return {}
        if isinstance(value, dict):
            for key in value:
                if not isinstance(key, str) or not _ENV_NAME_RE.match(key):
                    raise ValueError(f"{key!r} is not a valid environment variable name")
                if key in RESERVED_ENV:
                    raise ValueError(f"{key!r} is set by the node and cannot be configured")
            return {k: "" if v is None else str(v) for k, v in value.items()}
        return value

    @field_validator("databases")
    @classmethod
    def _unique_labels(cls, value: list[DatabaseConfig]) -> list[DatabaseConfig]:
        seen: set[str] = set()
        for db in value:
            if db.label.lower() in seen:
                raise ValueError(f"label {db.label!r} is used more than once")
            seen.add(db.label.lower())
        return value

    @field_validator("runtime")
    @classmethod
    def _runtime(cls, value: str) -> str:
        if value.strip():
            return value.strip()
        chosen = preferred_runtime()
        if chosen is None:
            raise ValueError(
                "no container runtime is installed (entry point group vantage6.runtimes); "
                f"registered: {', '.join(available_runtimes()) or 'none'}"
            )
        return chosen

    @model_validator(mode="after")
    def _port_twice(self) -> NodeConfig:
        if self.port is not None and urlsplit(self.server_url).port is not None:
            raise ValueError("port: server_url already contains a port; give it only once")
        return self

    # -- derived values ------------------------------------------------------------------------

    @property
    def server_root(self) -> str:
        """``scheme://host[:port]`` of the server (where Socket.IO lives)."""
        if self.port is None:
            return self.server_url
        parts = urlsplit(self.server_url)
        netloc = parts.hostname or ""
        if ":" in netloc:
            netloc = f"[{netloc}]"
        base = f"{parts.scheme}://{netloc}:{self.port}"
        return base + parts.path.rstrip("/")

    @property
    def api_url(self) -> str:
        return self.server_root + self.api_path

    def database(self, label: str) -> DatabaseConfig | None:
        for db in self.databases:
            if db.label == label:
                return db
        return None


def _format_location(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif str(part).startswith(("function-", "literal[", "list[", "union[", "int", "str")):
            continue
        else:
            out += ("." if out else "") + str(part)
    return out or "(top level)"


def format_validation_error(exc: ValidationError) -> str:
    lines = []
    for err in exc.errors():
        where = _format_location(tuple(err.get("loc", ())))
        msg = err.get("msg", "invalid")
        msg = msg.removeprefix("Value error, ")
        if err.get("type") == "extra_forbidden":
            msg = "unknown key (check the spelling)"
        elif err.get("type") == "missing":
            msg = "is required"
        lines.append(f"{where}: {msg}")
    # several union branches may report the same place; keep the first of each
    unique: list[str] = []
    for line in lines:
        if line not in unique:
            unique.append(line)
    return "\n".join(unique)


def parse_config(
    data: Any, base_dir: Path | str = ".", *, check_files: bool = True, source: str = "config"
) -> NodeConfig:
    """Validate a configuration mapping; raise :class:`ConfigError` listing every problem."""
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: the file must contain a mapping of keys to values")
    data = dict(data)
    for key in sorted(IGNORED_VANTAGE6_KEYS & set(data)):
        log.info("configuration key %r is not used by this node; ignored", key)
        data.pop(key)
    try:
        return NodeConfig.model_validate(
            data, context={"base_dir": str(Path(base_dir)), "check_files": check_files}
        )
    except ValidationError as exc:
        raise ConfigError(f"{source} is invalid:\n{format_validation_error(exc)}") from None


def load_config(path: str | Path, *, check_files: bool = True) -> NodeConfig:
    """Read and validate a YAML configuration file."""
    path = Path(path).expanduser()
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read configuration file {str(path)!r}: {exc}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    config = parse_config(data, path.resolve().parent, check_files=check_files, source=str(path))
    if config.task_dir is None:
        config.task_dir = (path.resolve().parent / f"{path.stem}-data").resolve()
    return config
