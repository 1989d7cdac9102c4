"""``v6 store``: create and run algorithm stores (:mod:`vantage6_store`)."""

from __future__ import annotations

from typing import Any

import click

from vantage6_cli import configs, output, wizard
from vantage6_cli.instances import name_option, new_instance, scope_options
from vantage6_cli.lifecycle import add_lifecycle_commands, report_new, server_ready
from vantage6_cli.nodecheck import url_problem
from vantage6_cli.services import listen_options, listen_questions, ports_in_use, write_config
from vantage6_cli.wizard import Question

ALGORITHM_VIEWS = ("public", "whitelisted", "private")


@click.group("store")
def store() -> None:
    """Create, start and stop algorithm stores; submit, review and list algorithms."""


def _local_server_url() -> str | None:
    newest = configs.newest_server()
    return configs.server_api_url(newest[1]) if newest else None


def _count_problem(value: int) -> str | None:
    return None if 1 <= int(value) <= 100 else "must be 1-100"


def _split_urls(value: Any) -> list[str]:
    items = value if isinstance(value, list | tuple) else str(value or "").split(",")
    return [str(item).strip().rstrip("/") for item in items if str(item).strip()]


def _urls_problem(value: Any) -> str | None:
    for url in _split_urls(value):
        problem = url_problem(url)
        if problem:
            return f"{url!r}: {problem}"
    return None


def _is_loopback(url: str) -> bool:
    from vantage6_store.policies import is_localhost

    return is_localhost(url)


def trust_questions(server_url: str | None) -> list[Question]:
    """The server whose user administers the store, and the servers it may trust."""
    return [
        Question(
            "server_url",
            "--server-url",
            "API URL of the vantage6 server whose users use this store "
            "(e.g. http://127.0.0.1:7601/api)",
            default=server_url,
            required=server_url is None,
            validate=url_problem,
        ),
        Question(
            "root_username",
            "--root-username",
            "Username (at that server) of the store's administrator",
            default="root",
            validate=lambda v: None if str(v or "").strip() else "an answer is required",
        ),
        Question(
            "allowed_servers",
            "--allowed-server",
            "API URLs of the servers that may be whitelisted, comma-separated (empty: any)",
            default="",
            validate=_urls_problem,
        ),
    ]


def policy_questions(allow_localhost: bool) -> list[Question]:
    """The review and visibility policies the wizard asks about."""
    return [
        Question(
            "algorithm_view",
            "--algorithm-view",
            "Who may see the approved algorithms?",
            kind="select",
            default="whitelisted",
            choices=ALGORITHM_VIEWS,
        ),
        Question(
            "min_reviewers",
            "--min-reviewers",
            "Reviewers an algorithm needs",
            kind="int",
            default=2,
            validate=_count_problem,
        ),
        Question(
            "min_reviewing_organizations",
            "--min-reviewing-organizations",
            "Organizations its reviewers must come from",
            kind="int",
            default=2,
            validate=_count_problem,
        ),
        Question(
            "allow_localhost",
            "--allow-localhost/--no-allow-localhost",
            "May servers on this machine (localhost) be whitelisted?",
            kind="confirm",
            default=allow_localhost,
        ),
    ]


@store.command("new", short_help="Create a store configuration (a wizard).")
@click.argument("name", required=False)
@name_option("store")
@listen_options("store")
@click.option(
    "--server-url",
    help="API URL of the vantage6 server whose user administers the store (it checks that "
    "user's token).  [default: the server configured here]",
)
@click.option(
    "--root-username",
    help="That user's username at the server; they get the store's Root role.  [default: root]",
)
@click.option(
    "--allowed-server",
    "allowed_servers",
    multiple=True,
    metavar="URL",
    help="A server that may be whitelisted (repeatable).  [default: any server]",
)
@click.option(
    "--algorithm-view",
    type=click.Choice(ALGORITHM_VIEWS),
    help="Who sees approved algorithms: anyone, users of whitelisted servers, or store users."
    "  [default: whitelisted]",
)
@click.option("--min-reviewers", type=int, help="Reviewers an algorithm needs.  [default: 2]")
@click.option(
    "--min-reviewing-organizations",
    type=int,
    help="Organizations its reviewers come from.  [default: 2]",
)
@click.option(
    "--allow-localhost/--no-allow-localhost",
    default=None,
    help="Whether servers on localhost may be whitelisted.  [default: yes when --server-url "
    "is on localhost]",
)
@click.option("--overwrite", is_flag=True, help="Replace an existing configuration.")
@scope_options
@wizard.no_input_option
@output.json_option
def store_new(
    name: str | None,
    host: str | None,
    port: int | None,
    api_path: str | None,
    database_uri: str | None,
    check: bool,
    server_url: str | None,
    root_username: str | None,
    allowed_servers: tuple[str, ...],
    algorithm_view: str | None,
    min_reviewers: int | None,
    min_reviewing_organizations: int | None,
    allow_localhost: bool | None,
    overwrite: bool,
    system: bool,
    no_input: bool,
    as_json: bool,
) -> None:
    """Create the configuration of a new algorithm store (asks in a terminal; every question
    is also a flag). The store trusts the users of the server it names: that server's
    ROOT-USERNAME is the store's first administrator."""
    instance = new_instance("store", name, system, overwrite, no_input)
    taken = ports_in_use(exclude=instance.config_file)
    listen = wizard.answer(
        listen_questions("store", instance.data_dir, taken, check_database=check),
        {"host": host, "port": port, "api_path": api_path, "database_uri": database_uri},
        no_input,
    )
    trust = wizard.answer(
        trust_questions(_local_server_url()),
        {
            "server_url": server_url,
            "root_username": root_username,
            "allowed_servers": list(allowed_servers) or None,
        },
        no_input,
    )
    trusted = str(trust["server_url"]).strip().rstrip("/")
    if check and not server_ready(trusted):
        output.warn(
            f"the server at {trusted} does not answer (yet); the store asks it about its "
            "users' tokens"
        )
    policies = wizard.answer(
        policy_questions(_is_loopback(trusted)),
        {
            "algorithm_view": algorithm_view,
            "min_reviewers": min_reviewers,
            "min_reviewing_organizations": min_reviewing_organizations,
            "allow_localhost": allow_localhost,
        },
        no_input,
    )
    allowed = _split_urls(trust["allowed_servers"])
    if allowed:
        # its own server couples the store by whitelisting itself, so it is always allowed
        policies["allowed_servers"] = list(dict.fromkeys([trusted, *allowed]))
    data: dict[str, Any] = {
        **listen,
        "root_user": {"v6_server_uri": trusted, "username": trust["root_username"]},
        "policies": policies,
    }
    settings = write_config(instance, data)
    facts = {
        "name": instance.name,
        "config_file": str(instance.config_file),
        "data_dir": str(instance.data_dir),
        "api_url": configs.server_api_url(settings),
        "server": trusted,
        "administrator": trust["root_username"],
    }
    report_new(instance, facts, as_json)


add_lifecycle_commands(store, "store")


def _add_user_commands() -> None:
    from vantage6_cli.storeuse import add_user_commands

    add_user_commands(store)


_add_user_commands()
