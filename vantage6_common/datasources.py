"""Node data sources as plugins (entry point group ``vantage6.data_sources``).

A data source type (what a node's ``databases[].type`` names, e.g. ``csv``) is a
:class:`DataSource` subclass registered under that name. The node asks it to check a
configured URI (:meth:`DataSource.check`); inside the algorithm container the algorithm tools
ask it to load the data (:meth:`DataSource.load`). A site adds its own loader by installing a
package that registers one; the built-in ones live in ``plugins/vantage6_datasource_<name>``.

Algorithm images copy the plugin packages in without installed metadata, so a top-level
package named ``vantage6_datasource_<name>`` on ``sys.path`` that exports exactly one
:class:`DataSource` subclass counts as registered under ``<name>`` as well.

This module imports neither pandas nor SQLAlchemy (the node checks configurations without
them); the plugins import what they need when loading.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Mapping
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path
from typing import Any, ClassVar

ENTRY_POINT_GROUP = "vantage6.data_sources"
MODULE_PREFIX = "vantage6_datasource_"

#: types the node accepts without a loader: the algorithm reads the URI itself (vantage6 4.x
#: also knows ``sparql``, whose endpoint an algorithm queries on its own)
PASS_THROUGH_TYPES = ("sparql", "other")


class DataSourceError(ValueError):
    """A data source cannot be checked or loaded; the message is one line for the user."""


class UnknownDataSource(DataSourceError, LookupError):
    """No data source type registered under the requested name."""


class DataSource:
    """One type of node data source. Subclasses set :attr:`name` and implement :meth:`load`."""

    #: the type name administrators write as ``databases[].type``
    name: ClassVar[str] = ""
    #: the URI is a local file the node mounts read-only into the algorithm's container
    file_based: ClassVar[bool] = False
    #: file name endings ``v6 node new`` guesses this type from (lower case, with the dot)
    suffixes: ClassVar[tuple[str, ...]] = ()

    def check(self, uri: str, base_dir: Path, check_files: bool = True) -> str:
        """The URI as the node keeps it (paths made absolute); :class:`DataSourceError` if bad.

        The default: a file-based type resolves ``uri`` against ``base_dir`` and requires the
        file to exist (when ``check_files``); any other type keeps ``uri`` as it is.
        """
        if not self.file_based:
            return uri
        path = resolve_path(uri, base_dir)
        if check_files and not path.is_file():
            raise DataSourceError(f"file {str(path)!r} does not exist (type {self.name})")
        return str(path)

    def load(self, uri: str, options: Mapping[str, Any]) -> Any:
        """Read the data at ``uri`` as a pandas DataFrame.

        ``options`` holds ``query`` and ``sheet_name`` when the node or the task gave them, and
        the database's extra parameters (``{LABEL}_DB_PARAM_{KEY}``) by lower-case key.
        Raise :class:`DataSourceError` for anything the user must fix.
        """
        raise NotImplementedError


def resolve_path(uri: str, base_dir: Path) -> Path:
    """``uri`` as an absolute path (``~`` expanded, relative to ``base_dir``)."""
    path = Path(uri).expanduser()
    if not path.is_absolute():
        path = base_dir / path
    return path.resolve()


def _entry_points() -> dict[str, EntryPoint]:
    return {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}


def _packaged() -> set[str]:
    """Names of ``vantage6_datasource_<name>`` packages on ``sys.path``."""
    return {
        info.name[len(MODULE_PREFIX) :]
        for info in pkgutil.iter_modules()
        if info.name.startswith(MODULE_PREFIX) and info.ispkg
    }


def available_data_sources() -> list[str]:
    """Names of the installed data source types that have a loader, sorted."""
    return sorted(set(_entry_points()) | _packaged())


def accepted_types() -> list[str]:
    """Every type a node configuration may name: the loaders, then the pass-through types."""
    loaders = available_data_sources()
    return loaders + [name for name in PASS_THROUGH_TYPES if name not in loaders]


def _from_package(name: str) -> type[DataSource] | None:
    try:
        module = importlib.import_module(MODULE_PREFIX + name)
    except Exception:  # noqa: BLE001 - a broken package is no data source
        return None
    found = {
        value
        for value in vars(module).values()
        if isinstance(value, type) and issubclass(value, DataSource) and value is not DataSource
    }
    return found.pop() if len(found) == 1 else None


def data_source_class(name: str) -> type[DataSource]:
    """The class registered as ``name``; :class:`UnknownDataSource` if there is none."""
    ep = _entry_points().get(name)
    cls: object = None
    problem = ""
    if ep is not None:
        try:
            cls = ep.load()
        except Exception as exc:  # noqa: BLE001 - a broken plugin is reported, not raised
            problem = f" (its entry point {ep.value} cannot be imported: {exc})"
    if cls is None and name.isidentifier():
        cls = _from_package(name)
    if cls is None:
        raise UnknownDataSource(
            f"unknown data source type {name!r}{problem}; installed: "
            f"{', '.join(available_data_sources()) or 'none'}"
        )
    if not (isinstance(cls, type) and issubclass(cls, DataSource)):
        raise UnknownDataSource(
            f"data source type {name!r} is registered as something that is not a DataSource"
        )
    return cls


def data_source(name: str) -> DataSource:
    """An instance of the data source type ``name``."""
    return data_source_class(name)()


def guess_type(uri: str) -> str:
    """The installed type whose suffix ``uri`` ends with; ``sql`` for URLs, else ``other``."""
    lower = uri.lower()
    if "://" in lower and not lower.startswith("file://"):
        return "sql" if "sql" in available_data_sources() else "other"
    for name in available_data_sources():
        try:
            suffixes = data_source_class(name).suffixes
        except DataSourceError:
            continue
        if lower.endswith(suffixes):
            return name
    return "other"
