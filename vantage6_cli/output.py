"""Output: data on stdout (rich tables or ``--json``), messages and logs on stderr.

Colours follow rich's rules: none when the stream is not a terminal or ``NO_COLOR`` is set.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterable, Sequence
from typing import Any

import click
from rich.console import Console
from rich.table import Table


def _console(stderr: bool) -> Console:
    stream = sys.stderr if stderr else sys.stdout
    no_color = bool(os.environ.get("NO_COLOR"))
    terminal = stream.isatty()
    width = None
    if not terminal:
        # rich assumes 80 columns when writing to a pipe or file; data wants more room
        try:
            width = int(os.environ.get("COLUMNS", ""))
        except ValueError:
            width = 160
    return Console(
        file=stream,
        no_color=no_color,
        highlight=False,
        soft_wrap=not terminal,
        emoji=False,
        width=width,
    )


def out() -> Console:
    """Console on stdout (built per call: click's test runner swaps the streams)."""
    return _console(stderr=False)


def err() -> Console:
    return _console(stderr=True)


def info(message: str) -> None:
    """A progress or status message (stderr)."""
    err().print(message, markup=False)


def success(message: str) -> None:
    err().print(f"[green]{_escape(message)}[/green]")


def warn(message: str) -> None:
    err().print(f"[yellow]warning:[/yellow] {_escape(message)}")


def error(message: str, hint: str | None = None) -> None:
    console = err()
    console.print(f"[red]error:[/red] {_escape(message)}")
    if hint:
        console.print(f"  {_escape(hint)}")


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(str(text))


def print_json(data: Any) -> None:
    """Machine-readable output on stdout."""
    click.echo(json.dumps(data, indent=2, default=str, ensure_ascii=False))


def version_text() -> str:
    """This version and the vantage6 version it speaks."""
    from vantage6_common import WIRE_VERSION, __version__

    return f"{__version__} (speaks vantage6 {WIRE_VERSION})"


def print_version(program: str, as_json: bool) -> None:
    """The ``version`` commands of ``v6``, ``v6 server`` and ``v6 node``."""
    from vantage6_common import WIRE_VERSION, __version__

    if as_json:
        print_json({"version": __version__, "vantage6": WIRE_VERSION})
    else:
        click.echo(f"{program} {version_text()}")


def print_table(
    columns: Sequence[str],
    rows: Iterable[Sequence[Any]],
    title: str | None = None,
    empty: str = "nothing to show",
) -> None:
    rows = list(rows)
    if not rows:
        info(empty)
        return
    table = Table(title=title, show_lines=False, header_style="bold")
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*("" if v is None else _escape(str(v)) for v in row))
    out().print(table)


def print_mapping(data: dict[str, Any], title: str | None = None) -> None:
    """A two-column key/value table."""
    print_table(["key", "value"], [(k, _short(v)) for k, v in data.items()], title=title)


def _short(value: Any) -> str:
    if isinstance(value, dict | list):
        text = json.dumps(value, default=str)
    else:
        text = "" if value is None else str(value)
    return text if len(text) <= 200 else text[:197] + "..."


def json_option(func: Any) -> Any:
    """``--json``: print machine-readable data on stdout instead of tables."""
    return click.option(
        "--json", "as_json", is_flag=True, help="Print the data as JSON on stdout."
    )(func)
