"""``v6 collaboration list`` and ``v6 organization list``: the ids a task needs."""

from __future__ import annotations

from typing import Any

import click

from vantage6_cli import output
from vantage6_cli.connect import Login, login_options
from vantage6_common.related import related_id


def _ids(items: Any) -> str:
    if isinstance(items, list):
        return ", ".join(str(related_id(i)) for i in items)
    return ""


@click.group("collaboration")
def collaboration() -> None:
    """The collaborations you are in (log in as for ``v6 task``)."""


@collaboration.command("list")
@login_options
@click.option(
    "--all", "all_", is_flag=True, help="Every collaboration you may see, not only your own."
)
@output.json_option
def collaboration_list(
    login: Login,
    all_: bool,
    as_json: bool,
) -> None:
    """List collaborations: id, name, encrypted, organizations."""
    with login.client() as client:
        found = client.collaboration.list(scope="global" if all_ else "organization").data
        rows = []
        for item in found:
            orgs = item.get("organizations")
            if not isinstance(orgs, list):
                orgs = client.organization.list(collaboration=item["id"]).data
            rows.append(
                {
                    "id": item["id"],
                    "name": item.get("name"),
                    "encrypted": bool(item.get("encrypted")),
                    "organizations": [related_id(o) for o in orgs],
                }
            )
    if as_json:
        output.print_json(rows)
        return
    output.print_table(
        ["id", "name", "encrypted", "organizations"],
        [
            [r["id"], r["name"], "yes" if r["encrypted"] else "no", _ids(r["organizations"])]
            for r in rows
        ],
        empty="you are in no collaboration",
    )


@click.group("organization")
def organization() -> None:
    """Organizations (log in as for ``v6 task``)."""


@organization.command("list")
@login_options
@click.option("--collaboration", "-C", type=int, help="Only the members of this collaboration.")
@output.json_option
def organization_list(
    login: Login,
    collaboration: int | None,
    as_json: bool,
) -> None:
    """List organizations you may see: id, name, country (yours is marked)."""
    with login.client() as client:
        found = client.organization.list(collaboration=collaboration).data
        mine = client.whoami.organization_id
    rows = [
        {
            "id": o["id"],
            "name": o.get("name"),
            "country": o.get("country"),
            "yours": o["id"] == mine,
        }
        for o in found
    ]
    if as_json:
        output.print_json(rows)
        return
    output.print_table(
        ["id", "name", "country", "yours"],
        [[r["id"], r["name"], r["country"], "*" if r["yours"] else ""] for r in rows],
        empty="no organizations",
    )
