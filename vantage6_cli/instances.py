"""Where server, store and node instances live: configuration files and data folders.

A named instance ``NAME`` of kind ``server``, ``store`` (an algorithm store) or ``node`` has

- its configuration in ``<config>/<kind>/NAME.yaml`` and
- its data (database, logs, pid file, keys, task folders) in ``<data>/<kind>/NAME/``,

where ``<config>``/``<data>`` are the user's folders (default, ``--user``) or the system's
(``--system``) as given by platformdirs (on Linux ``$XDG_CONFIG_HOME``/``$XDG_DATA_HOME`` and
``$XDG_CONFIG_DIRS``/``$XDG_DATA_DIRS``). With ``-c PATH`` any YAML file is an instance: its
data folder is ``<folder of PATH>/<stem>-data/``.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
import platformdirs

from vantage6_cli import wizard
from vantage6_cli.errors import NOT_FOUND, STATE, USAGE, CliError

APP = "vantage6-next"
KINDS = ("server", "store", "node")
#: the kinds that serve an API on a port from a database of their own
SERVICES = ("server", "store")
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")


def config_root(system: bool) -> Path:
    if system:
        return platformdirs.site_config_path(APP)
    return platformdirs.user_config_path(APP)


def data_root(system: bool) -> Path:
    if system:
        return platformdirs.site_data_path(APP)
    return platformdirs.user_data_path(APP)


def check_name(name: str) -> str:
    if not NAME_RE.match(name or ""):
        raise CliError(
            f"invalid name {name!r}: use letters, digits, '-', '_' or '.' (max 63)", USAGE
        )
    return name


def name_problem(value: str | None) -> str | None:
    """A wizard validator: what is wrong with a name, or ``None``."""
    try:
        check_name(value or "")
    except CliError as exc:
        return exc.message
    return None


@dataclass(frozen=True)
class Instance:
    """One server, store or node: its config file and its data folder."""

    kind: str
    name: str
    config_file: Path
    data_dir: Path
    scope: str  # "user", "system", "file" or "sandbox"

    @property
    def log_file(self) -> Path:
        return self.data_dir / f"{self.kind}.log"

    @property
    def pid_file(self) -> Path:
        return self.data_dir / f"{self.kind}.pid"

    @property
    def status_file(self) -> Path:
        """Nodes: the state the node process reports (see :mod:`vantage6_node.status`)."""
        return self.data_dir / f"{self.kind}.status.json"

    @property
    def root_password_file(self) -> Path:
        """Servers: the first root password (given to the server on its first start)."""
        return self.data_dir / "root-password"

    @property
    def label(self) -> str:
        return f"{self.kind} '{self.name}'"

    def exists(self) -> bool:
        return self.config_file.is_file()

    def files(self) -> dict[str, Path]:
        found = {
            "config": self.config_file,
            "data": self.data_dir,
            "log": self.log_file,
            "pid": self.pid_file,
        }
        if self.kind == "server":
            found["root password"] = self.root_password_file
        return found


def named(kind: str, name: str, system: bool = False) -> Instance:
    check_name(name)
    return Instance(
        kind=kind,
        name=name,
        config_file=config_root(system) / kind / f"{name}.yaml",
        data_dir=data_root(system) / kind / name,
        scope="system" if system else "user",
    )


def from_file(kind: str, path: Path) -> Instance:
    path = Path(path).expanduser().resolve()
    return Instance(
        kind=kind,
        name=path.stem,
        config_file=path,
        data_dir=path.parent / f"{path.stem}-data",
        scope="file",
    )


def in_folder(kind: str, name: str, config_dir: Path, data_dir: Path, scope: str) -> Instance:
    """An instance kept outside the usual folders (the sandbox keeps its own)."""
    return Instance(kind, name, config_dir / f"{name}.yaml", data_dir / name, scope)


def list_instances(kind: str, system: bool | None = None) -> list[Instance]:
    """Named instances of ``kind`` (both scopes when ``system`` is None)."""
    scopes = [False, True] if system is None else [system]
    found = []
    for scope in scopes:
        folder = config_root(scope) / kind
        if folder.is_dir():
            for path in sorted(folder.glob("*.yaml")):
                if NAME_RE.match(path.stem):
                    found.append(named(kind, path.stem, scope))
    return found


def resolve(kind: str, name: str | None, config: Path | None, system: bool) -> Instance:
    """The instance a command is about, from NAME, ``-c PATH`` and ``--user/--system``."""
    if config is not None:
        instance = from_file(kind, config)
        if not instance.exists():
            raise CliError(f"configuration file {instance.config_file} does not exist", NOT_FOUND)
        return instance
    if name is None:
        candidates = list_instances(kind, system)
        if len(candidates) == 1:
            return candidates[0]
        where = "system" if system else "user"
        if not candidates:
            raise CliError(
                f"there is no {kind} configuration in the {where} folder "
                f"({config_root(system) / kind})",
                NOT_FOUND,
                hint=f"create one with: v6 {kind} new NAME",
            )
        names = ", ".join(c.name for c in candidates)
        raise CliError(f"which {kind}? give its NAME (one of: {names}) or -c PATH", USAGE)
    instance = named(kind, name, system)
    if not instance.exists():
        others = [i.name for i in list_instances(kind, system)]
        hint = f"known: {', '.join(others)}" if others else f"create it with: v6 {kind} new {name}"
        raise CliError(
            f"no {kind} named '{name}' ({instance.config_file} does not exist)",
            NOT_FOUND,
            hint=hint,
        )
    return instance


def scope_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """``--user`` (default) / ``--system``."""
    return click.option(
        "--system/--user",
        "system",
        default=False,
        show_default=True,
        help="Use the system's configuration folders instead of the user's.",
    )(func)


def name_option(
    kind: str, short: bool = True
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """``-n/--name NAME`` (vantage6 4.x's way) as well as the NAME argument: both end up in
    the ``name`` parameter; given both ways, they must agree."""

    def decorate(func: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            option = kwargs.pop("name_option", None)
            if option is not None:
                if kwargs.get("name") not in (None, option):
                    raise CliError(
                        f"two names: {kwargs['name']!r} and --name {option!r}; give one", USAGE
                    )
                kwargs["name"] = option
            return func(*args, **kwargs)

        flags = ["-n", "--name"] if short else ["--name"]
        return click.option(
            *flags,
            "name_option",
            default=None,
            metavar="NAME",
            shell_complete=_complete(kind),
            help=f"Name of the {kind} (the same as the NAME argument).",
        )(wrapper)

    return decorate


def instance_options(
    kind: str, short_name: bool = True
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """NAME argument (optional) or ``-n/--name NAME``, ``-c/--config PATH`` and
    ``--user/--system``."""

    def decorate(func: Callable[..., Any]) -> Callable[..., Any]:
        func = scope_options(func)
        func = click.option(
            "-c",
            "--config",
            type=click.Path(dir_okay=False, path_type=Path),
            default=None,
            help=f"Path of the {kind} configuration file (instead of NAME).",
        )(func)
        func = name_option(kind, short_name)(func)
        func = click.argument("name", required=False, shell_complete=_complete(kind))(func)
        return func

    return decorate


def _complete(kind: str) -> Callable[..., list[Any]]:
    def complete(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[Any]:
        from click.shell_completion import CompletionItem

        system = bool(ctx.params.get("system"))
        return [
            CompletionItem(i.name)
            for i in list_instances(kind, system)
            if i.name.startswith(incomplete)
        ]

    return complete


def new_instance(
    kind: str, name: str | None, system: bool, overwrite: bool, no_input: bool
) -> Instance:
    """Ask for (or take) the name of a new instance of ``kind``; refuse an existing one."""
    answer = wizard.answer(
        [
            wizard.Question(
                "name", "NAME", f"Name of the {kind}", required=True, validate=name_problem
            )
        ],
        {"name": name},
        no_input,
    )
    instance = named(kind, answer["name"], system)
    if instance.exists() and not overwrite:
        raise CliError(
            f"{kind} '{instance.name}' already exists ({instance.config_file})",
            STATE,
            hint="pass --overwrite to replace it, or choose another name",
        )
    return instance
