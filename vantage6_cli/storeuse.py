"""``v6 store algorithm|review|user``: work with an algorithm store as a user.

Log in as for ``v6 task`` (your server account: the store checks your server token with your
server). Which store: ``--store-url``, ``--store ID`` (a store coupled at your server), or the
only store coupled to your collaborations.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from vantage6_cli import algometa, output, wizard
from vantage6_cli.connect import Login, login_options
from vantage6_cli.errors import NOT_FOUND, USAGE, CliError
from vantage6_cli.storeapi import StoreSession, open_store
from vantage6_cli.wizard import Question
from vantage6_common.related import related_id

#: ``--status`` of ``algorithm list`` -> the store's list flag (approved: no flag)
STATUS_FLAGS = {
    "approved": None,
    "awaiting-reviewer": "awaiting_reviewer_assignment",
    "under-review": "under_review",
    "in-review": "in_review_process",
    "invalidated": "invalidated",
}
REVIEW_STATUSES = ("under-review", "reviewed", "approved", "rejected")


def store_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """``--store-url`` and ``--store``: which store (see the module's docstring)."""
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


def _store(client: Any, store_url: str | None, store_id: int | None) -> StoreSession:
    return open_store(client, store_url, store_id)


def _user_name(user: Any) -> str:
    return user.get("username", "") if isinstance(user, dict) else ""


# -- v6 store coupled ------------------------------------------------------------------------
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


# -- v6 store algorithm ----------------------------------------------------------------------
@click.group("algorithm")
def algorithm() -> None:
    """Submit algorithms to a store, list them and see their review status."""


def submit_questions() -> list[Question]:
    from vantage6_common import WIRE_VERSION

    def present(value: Any) -> str | None:
        return None if str(value or "").strip() else "an answer is required"

    def no_spaces(value: Any) -> str | None:
        text = str(value or "").strip()
        return "an answer without spaces is required" if not text or " " in text else None

    return [
        Question("name", "--name", "Name of the algorithm", required=True, validate=present),
        Question(
            "image",
            "--image",
            "Image, e.g. harbor2.vantage6.ai/demo/average:1.0",
            required=True,
            validate=no_spaces,
        ),
        Question("description", "--description", "Description", default=""),
        Question(
            "partitioning",
            "--partitioning",
            "Data partitioning",
            kind="select",
            default="horizontal",
            choices=("horizontal", "vertical"),
        ),
        Question(
            "vantage6_version",
            "--vantage6-version",
            "vantage6 version of its algorithm tools",
            default=WIRE_VERSION,
            validate=present,
        ),
        Question(
            "code_url", "--code-url", "Where its source code is", required=True, validate=present
        ),
        Question("documentation_url", "--documentation-url", "Its documentation", default=""),
    ]


@algorithm.command("submit", short_help="Submit an algorithm for review.")
@login_options
@store_options
@click.option(
    "--file",
    "-f",
    "metadata_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="JSON or YAML file with the metadata (as the store's POST /algorithm takes it); "
    "flags override it.",
)
@click.option("--name", help="Name of the algorithm.")
@click.option("--image", help="Its image (the store records the image's digest).")
@click.option("--description", help="What it does.")
@click.option("--partitioning", type=click.Choice(["horizontal", "vertical"]))
@click.option("--vantage6-version", help="vantage6 version of its algorithm tools.")
@click.option("--code-url", help="Where its source code is.")
@click.option("--documentation-url", help="Where its documentation is.")
@click.option("--comment", help="A comment for the reviewers.")
@click.option(
    "--function",
    "functions",
    multiple=True,
    metavar="NAME[:central|federated]",
    help="A function (repeatable; federated when the type is not said).",
)
@click.option(
    "--argument",
    "arguments",
    multiple=True,
    metavar="FUNCTION.ARG:TYPE[=DEFAULT]",
    help="An argument of a function (repeatable); a default makes it optional.",
)
@click.option(
    "--database",
    "databases",
    multiple=True,
    metavar="FUNCTION.LABEL",
    help="A database a function reads (repeatable).",
)
@wizard.no_input_option
@output.json_option
def algorithm_submit(
    login: Login,
    store_url: str | None,
    store_id: int | None,
    metadata_file: Path | None,
    comment: str | None,
    functions: tuple[str, ...],
    arguments: tuple[str, ...],
    databases: tuple[str, ...],
    no_input: bool,
    as_json: bool,
    **fields: str | None,
) -> None:
    """Submit an algorithm to the store; it waits there for reviewers (asks in a terminal;
    every question is also a flag)."""
    base = algometa.read_file(metadata_file) if metadata_file else {}
    given = {
        key: fields.get(key) if fields.get(key) is not None else base.get(key)
        for key in (
            "name",
            "image",
            "description",
            "partitioning",
            "vantage6_version",
            "code_url",
            "documentation_url",
        )
    }
    answers = wizard.answer(submit_questions(), given, no_input)
    answers = {k: (v.strip() if isinstance(v, str) else v) for k, v in answers.items()}
    for optional in ("description", "documentation_url"):
        if not answers.get(optional):
            answers[optional] = None
    if comment is not None:
        answers["submission_comments"] = comment
    body = algometa.submission(base, answers, functions, arguments, databases)
    with login.client() as client:
        store = _store(client, store_url, store_id)
        created = store.request("POST", "algorithm", json=body)
    if as_json:
        output.print_json(created)
        return
    output.success(f"algorithm {created['id']} ({created['name']}) submitted: {created['status']}")
    if created.get("digest"):
        output.info(f"image {created['image']} recorded at {created['digest']}")
    output.info(f"assign reviewers with: v6 store review assign {created['id']} --reviewer NAME")


def _algorithm_row(a: dict[str, Any]) -> list[Any]:
    return [
        a["id"],
        a.get("name"),
        a.get("image"),
        (a.get("digest") or "")[:19],
        a.get("status"),
        ", ".join(f.get("name", "") for f in a.get("functions") or []),
        (a.get("submitted_at") or "")[:19],
    ]


ALGORITHM_COLUMNS = ["id", "name", "image", "digest", "status", "functions", "submitted"]


@algorithm.command("list")
@login_options
@store_options
@click.option(
    "--status",
    type=click.Choice(list(STATUS_FLAGS)),
    default="approved",
    show_default=True,
    help="Which algorithms (in-review: awaiting a reviewer or under review).",
)
@click.option("--name", help="Only algorithms with this name (SQL LIKE pattern).")
@click.option("--image", help="Only algorithms with this image.")
@output.json_option
def algorithm_list(
    login: Login,
    store_url: str | None,
    store_id: int | None,
    status: str,
    name: str | None,
    image: str | None,
    as_json: bool,
) -> None:
    """List the store's algorithms (approved ones unless --status says else)."""
    params: dict[str, Any] = {"name": name, "image": image}
    flag = STATUS_FLAGS[status]
    if flag:
        params[flag] = "true"
    with login.client() as client:
        found = _store(client, store_url, store_id).all("algorithm", params)
    if as_json:
        output.print_json(found)
        return
    output.print_table(
        ALGORITHM_COLUMNS, [_algorithm_row(a) for a in found], empty=f"no {status} algorithms"
    )


def _function_rows(functions: list[dict[str, Any]]) -> list[list[Any]]:
    rows = []
    for function in functions:
        args = []
        for a in function.get("arguments") or []:
            text = f"{a['name']}: {a['type']}"
            if a.get("has_default_value"):
                text += f" = {a.get('default_value')}"
            args.append(text)
        rows.append(
            [
                function["name"],
                function.get("type"),
                ", ".join(d.get("name", "") for d in function.get("databases") or []),
                "; ".join(args),
            ]
        )
    return rows


@algorithm.command("show", short_help="Show an algorithm, its functions and its reviews.")
@login_options
@store_options
@click.argument("algorithm_id", type=int)
@output.json_option
def algorithm_show(
    login: Login, store_url: str | None, store_id: int | None, algorithm_id: int, as_json: bool
) -> None:
    """Show an algorithm: its metadata, status, functions and reviews."""
    with login.client() as client:
        store = _store(client, store_url, store_id)
        found = store.request("GET", f"algorithm/{algorithm_id}")
        reviews = _reviews_or_none(store, algorithm_id)
    if as_json:
        output.print_json({**found, "reviews": reviews})
        return
    keys = ("id", "name", "image", "digest", "status", "partitioning", "vantage6_version")
    shown = {k: found.get(k) for k in keys}
    shown |= {k: found.get(k) for k in ("code_url", "documentation_url", "submitted_at")}
    shown["approved_at"] = found.get("approved_at")
    output.print_mapping(shown, title=f"algorithm {algorithm_id}")
    output.print_table(
        ["function", "type", "databases", "arguments"],
        _function_rows(found.get("functions") or []),
        title="functions",
        empty="no functions",
    )
    if reviews is not None:
        _reviews_table(reviews)


def _reviews_or_none(store: StoreSession, algorithm_id: int) -> list[dict[str, Any]] | None:
    """The algorithm's reviews, or None when the caller may not see reviews."""
    try:
        return store.all("review", {"algorithm_id": algorithm_id})
    except CliError:
        return None


@algorithm.command("history", short_help="Show an algorithm's status changes.")
@login_options
@store_options
@click.argument("algorithm_id", type=int)
@output.json_option
def algorithm_history(
    login: Login, store_url: str | None, store_id: int | None, algorithm_id: int, as_json: bool
) -> None:
    """Every status change of an algorithm: from, to, who and when."""
    with login.client() as client:
        events = _store(client, store_url, store_id).request(
            "GET", f"algorithm/{algorithm_id}/history"
        )["data"]
    if as_json:
        output.print_json(events)
        return
    output.print_table(
        ["when", "from", "to", "by", "note"],
        [
            [
                (e.get("at") or "")[:19],
                e.get("from_status"),
                e.get("to_status"),
                e.get("username"),
                e.get("note"),
            ]
            for e in events
        ],
        title=f"algorithm {algorithm_id}",
        empty="no status changes",
    )


@algorithm.command("invalidate", short_help="Take an algorithm out of use.")
@login_options
@store_options
@click.argument("algorithm_id", type=int)
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@wizard.no_input_option
@output.json_option
def algorithm_invalidate(
    login: Login,
    store_url: str | None,
    store_id: int | None,
    algorithm_id: int,
    yes: bool,
    no_input: bool,
    as_json: bool,
) -> None:
    """Invalidate an algorithm (status 'removed'; its open reviews are dropped)."""
    wizard.confirm(f"Invalidate algorithm {algorithm_id}?", yes, no_input)
    with login.client() as client:
        answer = _store(client, store_url, store_id).request(
            "POST", f"algorithm/{algorithm_id}/invalidate"
        )
    if as_json:
        output.print_json(answer)
    else:
        output.success(f"algorithm {algorithm_id} invalidated")


# -- v6 store review -------------------------------------------------------------------------
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


def _reviews_table(reviews: list[dict[str, Any]]) -> None:
    output.print_table(
        ["review", "algorithm", "reviewer", "assigned by", "status", "comment"],
        [
            [
                r["id"],
                r.get("algorithm_id"),
                _user_name(r.get("reviewer")),
                _user_name(r.get("requested_by")),
                r.get("status"),
                r.get("comment"),
            ]
            for r in reviews
        ],
        title="reviews",
        empty="no reviews",
    )


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
        store = _store(client, store_url, store_id)
        created = []
        for who in reviewers:
            body = {"algorithm_id": algorithm_id, "reviewer_id": _store_user_id(store, who)}
            created.append(store.request("POST", "review", json=body))
        status = store.request("GET", f"algorithm/{algorithm_id}").get("status")
    if as_json:
        output.print_json({"reviews": created, "algorithm_status": status})
        return
    for item in created:
        output.success(f"review {item['id']}: {_user_name(item.get('reviewer'))} reviews it")
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
        store = _store(client, store_url, store_id)
        if mine:
            params["reviewer_id"] = _my_store_id(store, client)
        found = store.all("review", params)
    if as_json:
        output.print_json(found)
        return
    _reviews_table(found)


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
        store = _store(client, store_url, store_id)
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
        store = _store(client, store_url, store_id)
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
        found = _store(client, store_url, store_id).all("user")
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


def add_user_commands(group: click.Group) -> None:
    """Hang ``algorithm``, ``review``, ``user`` and ``coupled`` under ``v6 store``."""
    for command in (algorithm, review, user):
        group.add_command(command)
    coupled_command(group)
