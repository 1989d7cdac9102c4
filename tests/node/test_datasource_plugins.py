"""Data sources as plugins (entry point group ``vantage6.data_sources``).

A third-party loader is installed for real: a package plus a ``.dist-info`` folder with its
``entry_points.txt`` in a folder put on ``sys.path``, found by ``importlib.metadata`` as any
installed distribution is. The built-in loaders each read a real file; bad configurations give
one error line naming the key.
"""

from __future__ import annotations

import sqlite3
import textwrap
from pathlib import Path

import pandas as pd
import pytest

from vantage6_algorithm.data import load_data
from vantage6_algorithm.util import AlgorithmError
from vantage6_cli.errors import CliError
from vantage6_cli.node import known_database_types, parse_databases
from vantage6_common.datasources import (
    ENTRY_POINT_GROUP,
    UnknownDataSource,
    accepted_types,
    available_data_sources,
    data_source,
    guess_type,
)
from vantage6_node.config import ConfigError, parse_config

FRAME = pd.DataFrame({"id": [1, 2, 3], "age": [31.5, 45.25, 60.0], "sex": ["f", "m", "f"]})
BUILT_IN = ("csv", "excel", "parquet", "sql")

_ACME = """
from vantage6_common.datasources import DataSource, DataSourceError, resolve_path
import pandas as pd


class TsvSource(DataSource):
    name = "tsv"
    file_based = True
    suffixes = (".tsv",)

    def load(self, uri, options):
        return pd.read_csv(uri, sep=options.get("separator") or "\\t")


class PickySource(DataSource):
    name = "picky"

    def check(self, uri, base_dir, check_files=True):
        if not uri.startswith("picky:"):
            raise DataSourceError(f"{uri!r} does not start with picky:")
        return uri.upper()

    def load(self, uri, options):
        return pd.DataFrame({"uri": [uri]})


class BuggySource(DataSource):
    name = "buggy"

    def check(self, uri, base_dir, check_files=True):
        raise RuntimeError("plugin bug\\nsecond line")
"""


def install_distribution(site: Path, name: str, module: str, source: str, entries: str) -> None:
    """Write ``module`` and a dist-info registering ``entries`` in ENTRY_POINT_GROUP."""
    (site / module).mkdir(parents=True)
    (site / module / "__init__.py").write_text(source)
    info = site / f"{name}-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[{ENTRY_POINT_GROUP}]\n{textwrap.dedent(entries)}")


@pytest.fixture
def acme(tmp_path, monkeypatch) -> Path:
    """A site's own loaders, installed as the distribution ``acme-loaders``."""
    site = tmp_path / "site"
    install_distribution(
        site,
        "acme_loaders",
        "acme_loaders",
        _ACME,
        """\
        tsv = acme_loaders:TsvSource
        picky = acme_loaders:PickySource
        buggy = acme_loaders:BuggySource
        gone = acme_missing_module:Nothing
        crashy = acme_crashy:Anything
        """,
    )
    (site / "acme_crashy.py").write_text('raise RuntimeError("crashes on import")\n')
    monkeypatch.syspath_prepend(str(site))
    return site


def _config(databases: list[dict], base_dir: Path) -> object:
    data = {"api_key": "k", "server_url": "http://localhost", "databases": databases}
    return parse_config(data, base_dir)


def _one_problem(databases: list[dict], base_dir: Path) -> str:
    with pytest.raises(ConfigError) as caught:
        _config(databases, base_dir)
    header, *problems = str(caught.value).splitlines()
    assert header == "config is invalid:"
    assert len(problems) == 1, problems
    return problems[0]


# --------------------------------------------------------------------------------------------
# a third party's loader, registered through an installed entry point
# --------------------------------------------------------------------------------------------
def test_third_party_loader_is_found_configured_and_loaded(acme, tmp_path):
    assert {"tsv", "picky", *BUILT_IN} <= set(available_data_sources())
    assert "tsv" in known_database_types() and "tsv" in accepted_types()
    path = tmp_path / "visits.tsv"
    FRAME.to_csv(path, sep="\t", index=False)
    assert guess_type(str(path)) == "tsv"

    config = _config([{"label": "visits", "uri": "visits.tsv", "type": "tsv"}], tmp_path)
    (db,) = config.databases
    assert db.uri == str(path.resolve()) and db.is_file
    pd.testing.assert_frame_equal(load_data(db.uri, "tsv"), FRAME)

    semi = tmp_path / "semi.tsv"
    FRAME.to_csv(semi, sep=";", index=False)
    got = load_data(semi, "tsv", parameters={"separator": ";"})
    pd.testing.assert_frame_equal(got, FRAME)

    picky = _config([{"label": "p", "uri": "picky:abc", "type": "picky"}], tmp_path)
    assert picky.databases[0].uri == "PICKY:ABC" and not picky.databases[0].is_file
    assert parse_databases(("visits=visits.tsv",), ())[0]["type"] == "tsv"


def test_third_party_loader_is_unknown_before_it_is_installed(tmp_path):
    assert "tsv" not in available_data_sources()
    problem = _one_problem([{"label": "v", "uri": "v.tsv", "type": "tsv"}], tmp_path)
    assert problem.startswith("databases[0].type:") and "'tsv'" in problem
    assert "csv" in problem  # the installed types are listed
    with pytest.raises(CliError, match="csv, excel, parquet, sql"):
        parse_databases(("v=v.tsv",), ("v=tsv",))


def test_bad_third_party_configs_give_one_line(acme, tmp_path):
    problem = _one_problem([{"label": "p", "uri": "nope", "type": "picky"}], tmp_path)
    assert problem == "databases[0]: uri: 'nope' does not start with picky:"
    problem = _one_problem([{"label": "b", "uri": "x", "type": "buggy"}], tmp_path)
    assert problem.startswith("databases[0]: uri: the buggy data source failed to check it")
    problem = _one_problem([{"label": "g", "uri": "x", "type": "gone"}], tmp_path)
    assert "acme_missing_module" in problem and problem.startswith("databases[0]: uri:")
    with pytest.raises(UnknownDataSource, match="cannot be imported"):
        data_source("gone")
    problem = _one_problem([{"label": "c", "uri": "x", "type": "crashy"}], tmp_path)
    assert problem.startswith("databases[0]: uri:") and "crashes on import" in problem
    assert guess_type("x.unknown") == "other"  # the broken ones are skipped, not raised


# --------------------------------------------------------------------------------------------
# the built-in loaders
# --------------------------------------------------------------------------------------------
def _write_each(folder: Path) -> dict[str, tuple[str, dict]]:
    FRAME.to_csv(folder / "d.csv", index=False)
    FRAME.to_parquet(folder / "d.parquet")
    FRAME.to_excel(folder / "d.xlsx", index=False, sheet_name="visits")
    with sqlite3.connect(folder / "d.sqlite") as conn:
        FRAME.to_sql("patients", conn, index=False)
    return {
        "csv": ("d.csv", {}),
        "parquet": ("d.parquet", {}),
        "excel": ("d.xlsx", {"sheet_name": "visits"}),
        "sql": ("sqlite:///d.sqlite", {"query": "SELECT * FROM patients ORDER BY id"}),
    }


@pytest.mark.parametrize("kind", BUILT_IN)
def test_each_built_in_loads_after_the_node_checked_it(kind, tmp_path):
    uri, options = _write_each(tmp_path)[kind]
    config = _config([{"label": "db", "uri": uri, "type": kind}], tmp_path)
    (db,) = config.databases
    assert str(tmp_path.resolve()) in db.uri  # made absolute against the config's folder
    assert db.is_file == (kind != "sql")
    got = load_data(db.uri, kind, **options)
    pd.testing.assert_frame_equal(got, FRAME, check_dtype=False)


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        ({"type": "nosuch\n" + "x" * 500, "uri": "a"}, "databases[0].type: 'nosuch"),
        ({"type": "csv", "uri": "missing.csv"}, "databases[0]: uri: file "),
        ({"type": "sql", "uri": "::not a url::"}, "databases[0]: uri: '::not a url::' is not an"),
        ({"type": "sql", "uri": "sqlite:///nothere.db"}, "databases[0]: uri: sqlite file "),
        ({"type": ["csv"], "uri": "a.csv"}, "databases[0].type: Input should be a valid string"),
    ],
)
def test_bad_database_configs_give_one_line(entry, expected, tmp_path):
    problem = _one_problem([{"label": "db", **entry}], tmp_path)
    assert problem.startswith(expected), problem
    assert len(problem) < 400


def test_loader_errors_reach_the_algorithm_as_one_line(tmp_path):
    uri, _ = _write_each(tmp_path)["excel"]
    with pytest.raises(AlgorithmError, match=r"^Cannot read .*visits2") as caught:
        load_data(tmp_path / uri, "excel", sheet_name="visits2")
    assert "\n" not in str(caught.value)
    with pytest.raises(AlgorithmError, match="query is required"):
        load_data(tmp_path / "d.sqlite", "sql")
    with pytest.raises(AlgorithmError, match="cannot be loaded.*installed loaders: csv"):
        load_data(tmp_path / "d.csv", "sparql")
    with pytest.raises(AlgorithmError, match="not found"):
        load_data(tmp_path / "none.parquet", "parquet")
