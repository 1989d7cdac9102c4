"""``v6 store algorithm|review|user|coupled``: work with an algorithm store as a user.

Log in as for ``v6 task`` (your server account: the store checks your server token with your
server). Which store: ``--store-url``, ``--store ID`` (a store coupled at your server), or the
only store coupled to your collaborations.
"""

from __future__ import annotations

import click

from vantage6_cli import output
from vantage6_cli.connect import Login, login_options
from vantage6_common.related import related_id


def coupled_command(group: click.Group) -> None:
    @group.command("coupled", short_help="List the stores coupled at your server.")
    @login_options
    @click.option("--collaboration", "-C", type=int, help="Only this collaboration's stores.")
    @output.json_option
    def store_coupled(login: Login, collaboration: int | None, as_json: bool) -> None:
        """List the algorithm stores your server couples to your collaborations."""
        from vantage6_cli.storeapi import coupled_stores

        with login.client() as client:
            found = coupled_stores(client, collaboration)
        if as_json:
            output.print_json(found)
            return
        output.print_table(
            ["id", "name", "url", "collaboration"],
            [
                [s["id"], s.get("name"), s["url"], related_id(s.get("collaboration")) or "all"]
                for s in found
            ],
            empty="no store is coupled to your collaborations",
        )


def add_user_commands(group: click.Group) -> None:
    """Hang ``algorithm``, ``review``, ``user`` and ``coupled`` under ``v6 store``."""
    from vantage6_cli.storealgorithm import algorithm
    from vantage6_cli.storereview import review, user

    for command in (algorithm, review, user):
        group.add_command(command)
    coupled_command(group)
