"""``v6 store algorithm``: submit algorithms to a store, list them, see their status and
history (log in as for ``v6 task``; the store checks your server token with your server)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from vantage6_cli import algometa, output, wizard
from vantage6_cli.connect import Login, login_options
from vantage6_cli.errors import USAGE, CliError
from vantage6_cli.runtimes import is_local_image, local_digest
from vantage6_cli.storeapi import StoreSession
from vantage6_cli.storecommon import reviews_table, store_of, store_options
from vantage6_cli.wizard import Question

#: ``--status`` of ``algorithm list`` -> the store's list flag (approved: no flag)
STATUS_FLAGS = {
    "approved": None,
    "awaiting-reviewer": "awaiting_reviewer_assignment",
    "under-review": "under_review",
    "in-review": "in_review_process",
    "invalidated": "invalidated",
}


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
    answers["image"] = _pin_local(str(answers["image"]))
    body = algometa.submission(base, answers, functions, arguments, databases)
    with login.client() as client:
        store = store_of(client, store_url, store_id)
        created = store.request("POST", "algorithm", json=body)
    if as_json:
        output.print_json(created)
        return
    output.success(f"algorithm {created['id']} ({created['name']}) submitted: {created['status']}")
    if created.get("digest"):
        output.info(f"image {created['image']} recorded at {created['digest']}")
    output.info(f"assign reviewers with: v6 store review assign {created['id']} --reviewer NAME")


def _pin_local(image: str) -> str:
    """A locally built image (``localhost/...``) pinned to the digest a runtime here stores it
    under: no registry can tell the store its digest, and nodes that trust the store run only
    approved digests."""
    if "@" in image or not is_local_image(image):
        return image
    digest = local_digest(image)
    if digest is None:
        raise CliError(
            f"{image} is a local image, but no container runtime here has it",
            USAGE,
            hint="build it first (v6 algorithm build), or push it to a registry",
        )
    output.info(f"{image} is a local image: submitted at its digest {digest}")
    return f"{image}@{digest}"


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
        found = store_of(client, store_url, store_id).all("algorithm", params)
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
        store = store_of(client, store_url, store_id)
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
        reviews_table(reviews)


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
        events = store_of(client, store_url, store_id).request(
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
        answer = store_of(client, store_url, store_id).request(
            "POST", f"algorithm/{algorithm_id}/invalidate"
        )
    if as_json:
        output.print_json(answer)
    else:
        output.success(f"algorithm {algorithm_id} invalidated")
