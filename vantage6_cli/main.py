"""``v6``: the command line of the vantage6-compatible platform.

Data goes to stdout (tables, or JSON with ``--json``), messages and logs to stderr. Exit codes
are listed in :mod:`vantage6_cli.errors`.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import Any

import click

from vantage6_cli import errors, output
from vantage6_cli.errors import CliError


class V6Group(click.Group):
    """Turns :class:`CliError` (and Ctrl-C) into a message on stderr and an exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except CliError as exc:
            output.error(exc.message, exc.hint)
            ctx.exit(exc.code)
        except KeyboardInterrupt:
            output.error("interrupted")
            ctx.exit(errors.INTERRUPTED)
        except (click.exceptions.Exit, click.ClickException, click.Abort, SystemExit):
            raise
        except Exception as exc:  # noqa: BLE001 - last resort: say what happened, no traceback
            if os.environ.get("V6_DEBUG"):
                raise
            output.error(
                f"unexpected error: {type(exc).__name__}: {exc}",
                "set V6_DEBUG=1 to see the traceback",
            )
            ctx.exit(errors.ERROR)


@click.group(cls=V6Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(output.version_text(), "--version", prog_name="v6")
@click.option("-v", "--verbose", count=True, help="More log output on stderr (-vv: debug).")
def cli(verbose: int) -> None:
    """Run servers, algorithm stores, nodes and sandboxes; create tasks; write algorithms."""
    level = logging.WARNING - 10 * min(verbose, 2)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("httpx", "httpcore", "urllib3", "socketio", "engineio"):
        logging.getLogger(noisy).setLevel(max(level, logging.WARNING))


@cli.command("version", short_help="Print the version.")
@output.json_option
def version(as_json: bool) -> None:
    """Print the version of v6 and the vantage6 version it speaks."""
    output.print_version("v6", as_json)


def _register() -> None:
    from vantage6_cli.algorithm import algorithm
    from vantage6_cli.completion import completion
    from vantage6_cli.entities import collaboration, organization
    from vantage6_cli.node import node
    from vantage6_cli.sandbox import sandbox
    from vantage6_cli.server import server
    from vantage6_cli.store import store
    from vantage6_cli.task import task

    for command in (
        server,
        store,
        node,
        sandbox,
        task,
        collaboration,
        organization,
        algorithm,
        completion,
    ):
        cli.add_command(command)


_register()

if __name__ == "__main__":  # pragma: no cover
    cli()
