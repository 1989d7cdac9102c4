"""``v6 store review`` and ``v6 store user``: assign reviewers, approve or reject your
reviews, and register users of your server in the store."""

from __future__ import annotations

from typing import Any

import click

from vantage6_cli import output
from vantage6_cli.connect import Login, login_options
from vantage6_cli.errors import NOT_FOUND, USAGE, CliError
from vantage6_cli.storeapi import StoreSession
from vantage6_cli.storecommon import reviews_table, store_of, store_options, user_name

REVIEW_STATUSES = ("under-review", "reviewed", "approved", "rejected")


@click.group("review")
def review() -> None:
    """Assign reviewers to algorithms, and approve or reject the ones you review."""


def _store_user_id(store: StoreSession, who: str) -> int:
    """A store user's id from an id or a username."""
    if who.isdigit():
        return int(who)
    found = [u for u in store.all("user", {"username": who}) if u.get("username") == who]
    if not found:
        raise CliError(
            f"no user '{who}' is registered in the store",
            NOT_FOUND,
            hint=f"a store manager registers them: v6 store user register {who} --role Reviewer",
        )
    if len(found) > 1:
        servers = ", ".join(f"{u['id']} ({u['server']['url']})" for u in found)
        raise CliError(f"several store users are named '{who}': give an id ({servers})", USAGE)
    return int(found[0]["id"])


@review.command("assign", short_help="Assign reviewers to an algorithm.")
@login_options
@store_options
@click.argument("algorithm_id", type=int)
@click.option(
    "--reviewer",
    "reviewers",
    multiple=True,
    required=True,
    metavar="USERNAME|ID",
    help="A store user who reviews it (repeatable).",
)
@output.json_option
def review_assign(
    login: Login,
    store_url: str | None,
    store_id: int | None,
    algorithm_id: int,
    reviewers: tuple[str, ...],
    as_json: bool,
) -> None:
    """Assign reviewers to an algorithm; with enough of them it is under review."""
    with login.client() as client:
        store = store_of(client, store_url, store_id)
        created = []
        for who in reviewers:
            body = {"algorithm_id": algorithm_id, "reviewer_id": _store_user_id(store, who)}
            created.append(store.request("POST", "review", json=body))
        status = store.request("GET", f"algorithm/{algorithm_id}").get("status")
    if as_json:
        output.print_json({"reviews": created, "algorithm_status": status})
        return
    for item in created:
        output.success(f"review {item['id']}: {user_name(item.get('reviewer'))} reviews it")
    output.info(f"algorithm {algorithm_id} is now: {status}")


@review.command("list")
@login_options
@store_options
@click.option("--algorithm", "algorithm_id", type=int, help="Only this algorithm's reviews.")
@click.option("--mine", is_flag=True, help="Only the reviews assigned to you.")
@click.option("--status", type=click.Choice(REVIEW_STATUSES), help="Only reviews in this state.")
@output.json_option
def review_list(
    login: Login,
    store_url: str | None,
    store_id: int | None,
    algorithm_id: int | None,
    mine: bool,
    status: str | None,
    as_json: bool,
) -> None:
    """List reviews."""
    params: dict[str, Any] = {"algorithm_id": algorithm_id}
    if status:
        params[status.replace("-", "_")] = "true"
    with login.client() as client:
        store = store_of(client, store_url, store_id)
        if mine:
            params["reviewer_id"] = _my_store_id(store, client)
        found = store.all("review", params)
    if as_json:
        output.print_json(found)
        return
    reviews_table(found)


def _my_store_id(store: StoreSession, client: Any) -> int:
    me = client.whoami.username
    server = client.base_path.rstrip("/")
    for user in store.all("user", {"username": me}):
        if user.get("username") == me and (user.get("server") or {}).get("url") == server:
            return int(user["id"])
    raise CliError("you are not registered in this store", NOT_FOUND)


def _decide(
    login: Login,
    store_url: str | None,
    store_id: int | None,
    review_id: int | None,
    algorithm_id: int | None,
    decision: str,
    comment: str | None,
    as_json: bool,
) -> None:
    if (review_id is None) == (algorithm_id is None):
        raise CliError("give a REVIEW_ID or --algorithm ID (your open review of it)", USAGE)
    with login.client() as client:
        store = store_of(client, store_url, store_id)
        if review_id is None:
            mine = store.all(
                "review",
                {
                    "algorithm_id": algorithm_id,
                    "reviewer_id": _my_store_id(store, client),
                    "under_review": "true",
                },
            )
            if not mine:
                raise CliError(f"you have no open review of algorithm {algorithm_id}", NOT_FOUND)
            review_id = int(mine[0]["id"])
        body = {"comment": comment} if comment else {}
        answer = store.request("POST", f"review/{review_id}/{decision}", json=body)
        decided = store.request("GET", f"review/{review_id}")
        status = store.request("GET", f"algorithm/{decided['algorithm_id']}").get("status")
    if as_json:
        output.print_json({"review": decided, "algorithm_status": status, "store": answer})
        return
    verb = "approved" if decision == "approve" else "rejected"
    output.success(f"review {review_id} {verb}; algorithm {decided['algorithm_id']} is: {status}")


def _decision_command(decision: str, help_text: str) -> None:
    @review.command(decision, short_help=help_text)
    @login_options
    @store_options
    @click.argument("review_id", type=int, required=False)
    @click.option("--algorithm", "algorithm_id", type=int, help="Your open review of this one.")
    @click.option("--comment", "-m", help="Your comment for the developer.")
    @output.json_option
    def command(
        login: Login,
        store_url: str | None,
        store_id: int | None,
        review_id: int | None,
        algorithm_id: int | None,
        comment: str | None,
        as_json: bool,
    ) -> None:
        _decide(login, store_url, store_id, review_id, algorithm_id, decision, comment, as_json)

    command.__doc__ = f"{help_text} (REVIEW_ID, or --algorithm ID for your open review of it)."


_decision_command("approve", "Approve a review assigned to you")
_decision_command("reject", "Reject a review assigned to you")


# -- v6 store user ---------------------------------------------------------------------------
@click.group("user")
def user() -> None:
    """Register users of your server in the store and give them roles."""


@user.command("register", short_help="Register a user of your server in the store.")
@login_options
@store_options
@click.argument("registrant", metavar="USERNAME")
@click.option(
    "--role",
    "roles",
    multiple=True,
    metavar="NAME|ID",
    help="A store role, e.g. Developer, Reviewer, Algorithm Manager (repeatable).",
)
@output.json_option
def user_register(
    login: Login,
    store_url: str | None,
    store_id: int | None,
    registrant: str,
    roles: tuple[str, ...],
    as_json: bool,
) -> None:
    """Register USERNAME (a user of your server) in the store with the given roles."""
    with login.client() as client:
        store = store_of(client, store_url, store_id)
        known = {r["name"].lower(): r["id"] for r in store.all("role")}
        ids = []
        for role in roles:
            if role.isdigit():
                ids.append(int(role))
            elif role.lower() in known:
                ids.append(known[role.lower()])
            else:
                names = ", ".join(r["name"] for r in store.all("role"))
                raise CliError(f"--role {role}: no such store role (one of {names})", USAGE)
        created = store.request("POST", "user", json={"username": registrant, "roles": ids})
    if as_json:
        output.print_json(created)
    else:
        output.success(f"{registrant} is store user {created['id']}")


@user.command("list")
@login_options
@store_options
@output.json_option
def user_list(login: Login, store_url: str | None, store_id: int | None, as_json: bool) -> None:
    """List the store's registered users."""
    with login.client() as client:
        found = store_of(client, store_url, store_id).all("user")
    if as_json:
        output.print_json(found)
        return
    output.print_table(
        ["id", "username", "organization", "server"],
        [
            [
                u["id"],
                u.get("username"),
                u.get("organization_id"),
                (u.get("server") or {}).get("url"),
            ]
            for u in found
        ],
        empty="no users",
    )
