"""What the ``v6 store`` user commands share: which store (``--store-url``, ``--store``) and
how users and reviews are shown."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from vantage6_cli import output
from vantage6_cli.storeapi import StoreSession, open_store


def store_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """``--store-url`` and ``--store``: which store; without either, the only store coupled
    to the user's collaborations."""
    func = click.option(
        "--store",
        "store_id",
        type=int,
        help="Id of a store coupled at your server (see: v6 store coupled).",
    )(func)
    return click.option(
        "--store-url",
        envvar="V6_STORE_URL",
        help="Address of the store, e.g. http://127.0.0.1:7602 [env V6_STORE_URL].  "
        "[default: the only store coupled to your collaborations]",
    )(func)


def store_of(client: Any, store_url: str | None, store_id: int | None) -> StoreSession:
    return open_store(client, store_url, store_id)


def user_name(user: Any) -> str:
    return user.get("username", "") if isinstance(user, dict) else ""


def reviews_table(reviews: list[dict[str, Any]]) -> None:
    output.print_table(
        ["review", "algorithm", "reviewer", "assigned by", "status", "comment"],
        [
            [
                r["id"],
                r.get("algorithm_id"),
                user_name(r.get("reviewer")),
                user_name(r.get("requested_by")),
                r.get("status"),
                r.get("comment"),
            ]
            for r in reviews
        ],
        title="reviews",
        empty="no reviews",
    )
