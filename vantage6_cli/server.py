"""``v6 server``: create, run and fill servers."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

import click

from vantage6_cli import configs, output, process, storage, wizard
from vantage6_cli.connect import logged_in
from vantage6_cli.errors import CONFIG, USAGE, CliError
from vantage6_cli.instances import (
    list_instances,
    name_option,
    new_instance,
    resolve,
    scope_options,
)
from vantage6_cli.lifecycle import add_lifecycle_commands, report_new
from vantage6_cli.services import listen_options, listen_questions, ports_in_use, write_config
from vantage6_cli.wizard import Question


@click.group("server")
def server() -> None:
    """Create, start, stop and fill servers."""


def _password_problem(value: str | None) -> str | None:
    if not value:
        return None
    from vantage6_server.security.passwords import password_problems

    problems = password_problems(value)
    return "; ".join(problems) if problems else None


def generate_password() -> str:
    """A password that passes the server's rules (upper, lower, digit, symbol)."""
    return secrets.token_urlsafe(15) + "-Aa1"


def server_questions(
    data_dir: Path, taken: dict[int, str] | None = None, check_database: bool = True
) -> list[Question]:
    return [
        *listen_questions("server", data_dir, taken or {}, check_database),
        Question(
            "two_factor_auth",
            "--two-factor/--no-two-factor",
            "Require two-factor authentication for users?",
            kind="confirm",
            default=False,
        ),
        Question(
            "root_password",
            "--root-password",
            "Password for the user 'root' (empty: generate one)",
            kind="secret",
            default=None,
            validate=_password_problem,
        ),
    ]


@server.command(
    "new", cls=storage.StorageCommand, short_help="Create a server configuration (a wizard)."
)
@click.argument("name", required=False)
@name_option("server")
@listen_options("server")
@click.option(
    "--two-factor/--no-two-factor",
    "two_factor_auth",
    default=None,
    help="Require two-factor authentication.  [default: no]",
)
@click.option(
    "--root-password",
    envvar="V6_ROOT_PASSWORD",
    help="First password of user 'root' [env V6_ROOT_PASSWORD].  [default: generated]",
)
@click.option(
    "--storage",
    "blob_backend",
    help="Where large task inputs and results go: an installed storage backend "
    f"(--storage-<setting> flags below) or '{storage.NONE}' (the database).  "
    f"[default: {storage.DEFAULT}]",
)
@click.option("--overwrite", is_flag=True, help="Replace an existing configuration.")
@scope_options
@wizard.no_input_option
@output.json_option
def server_new(
    name: str | None,
    host: str | None,
    port: int | None,
    api_path: str | None,
    database_uri: str | None,
    check: bool,
    two_factor_auth: bool | None,
    root_password: str | None,
    blob_backend: str | None,
    overwrite: bool,
    system: bool,
    no_input: bool,
    as_json: bool,
    **storage_settings: str | None,
) -> None:
    """Create the configuration of a new server (asks in a terminal; every question is also a
    flag).

    Large task inputs and results are kept by a storage backend (the installed ones are
    offered; each asks for its own settings) or, with ``--storage none``, in the database.
    """
    instance = new_instance("server", name, system, overwrite, no_input)
    given = {
        "host": host,
        "port": port,
        "api_path": api_path,
        "database_uri": database_uri,
        "two_factor_auth": two_factor_auth,
        "root_password": root_password,
    }
    taken = ports_in_use(exclude=instance.config_file)
    questions = server_questions(instance.data_dir, taken, check_database=check)
    answers = wizard.answer(questions, given, no_input)
    blob_store = _storage_section(instance.data_dir, blob_backend, storage_settings, no_input)
    password = answers.pop("root_password") or generate_password()
    data: dict[str, Any] = {
        "host": answers["host"],
        "port": answers["port"],
        "api_path": answers["api_path"],
        "database_uri": answers["database_uri"],
        "two_factor_auth": bool(answers["two_factor_auth"]),
    }
    if blob_store is not None:
        data["large_result_store"] = blob_store
    settings = write_config(instance, data, private=blob_store is not None and len(blob_store) > 1)
    configs.write_secret(instance.root_password_file, password)
    result = {
        "name": instance.name,
        "config_file": str(instance.config_file),
        "data_dir": str(instance.data_dir),
        "api_url": configs.server_api_url(settings),
        "root_password_file": str(instance.root_password_file),
    }
    report_new(instance, result, as_json)


def _storage_section(
    data_dir: Path, name: str | None, given: dict[str, Any], no_input: bool
) -> dict[str, Any] | None:
    """The ``large_result_store`` section: the backend asked for (or ``--storage``), then its
    settings (asked, or from ``--storage-<setting>``)."""
    names = storage.backend_names()
    choice = wizard.answer([storage.backend_question(names)], {"storage": name}, no_input)
    chosen = choice["storage"]
    unknown = storage.unknown_flags(chosen, given)
    if unknown:
        raise CliError(f"{', '.join(unknown)}: not a setting of storage backend '{chosen}'", USAGE)
    if chosen == storage.NONE:
        return None
    questions = storage.settings_questions(chosen, data_dir)
    return storage.section(chosen, wizard.answer(questions, given, no_input))


add_lifecycle_commands(server, "server")


# -- import ----------------------------------------------------------------------------------
@server.command("import", short_help="Load organizations, users, collaborations, nodes.")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--name", "-n", help="Server instance to import into (default: the only one).")
@click.option("-c", "--config", type=click.Path(dir_okay=False, path_type=Path), default=None)
@scope_options
@click.option("--server-url", envvar="V6_SERVER_URL", help="API URL instead of an instance.")
@click.option("--username", default="root", show_default=True, help="Login to use.")
@click.option(
    "--password",
    envvar="V6_ROOT_PASSWORD",
    help="Password [env V6_ROOT_PASSWORD].  [default: the instance's root password file]",
)
@output.json_option
def server_import(
    file: Path,
    name: str | None,
    config: Path | None,
    system: bool,
    server_url: str | None,
    username: str,
    password: str | None,
    as_json: bool,
) -> None:
    """Load organizations (with users), collaborations and nodes from a YAML FILE.

    The file has vantage6's import layout: ``organizations`` (name, domain, address1,
    address2, zipcode, country, public_key, users: [username, password, email, firstname,
    lastname, roles]) and ``collaborations`` (name, encrypted, participants: [name]; ours also
    takes ``encryption_scheme``: vantage6 or authenticated). Each
    participant gets a node; the API keys of new nodes are printed (only now). Existing
    organizations, users, collaborations and nodes (matched by name) are kept.
    """
    spec = configs.read_yaml(file)
    if server_url is None:
        if name is None and config is None:
            running = [i for i in list_instances("server", system) if process.state(i).running]
            if len(running) == 1:
                name = running[0].name
        instance = resolve("server", name, config, system)
        settings = configs.validate_server(instance)
        server_url = configs.server_api_url(settings)
        if password is None and username == "root" and instance.root_password_file.is_file():
            password = instance.root_password_file.read_text().strip()
    with logged_in(server_url, username, password) as client:
        report = import_entities(client, spec, str(file))
    if as_json:
        output.print_json(report)
    else:
        output.print_table(
            ["kind", "name", "id", "action", "detail"],
            [[r["kind"], r["name"], r["id"], r["action"], r.get("detail", "")] for r in report],
            title=f"import of {file}",
        )
    if any(r["action"] == "failed" for r in report):
        raise CliError("some entries could not be imported (see above)", CONFIG)


def _check_spec(spec: dict[str, Any], source: str) -> None:
    unknown = set(spec) - {"organizations", "collaborations"}
    if unknown:
        raise CliError(
            f"{source}: unknown key(s) {', '.join(sorted(unknown))} "
            "(expected organizations, collaborations)",
            CONFIG,
        )
    for key in ("organizations", "collaborations"):
        value = spec.get(key) or []
        if not isinstance(value, list):
            raise CliError(f"{source}: {key} must be a list", CONFIG)
        for index, item in enumerate(value):
            if not isinstance(item, dict) or not item.get("name"):
                raise CliError(f"{source}: {key}[{index}].name is required", CONFIG)


def import_entities(client: Any, spec: dict[str, Any], source: str) -> list[dict[str, Any]]:
    """Create what ``spec`` describes; returns one report row per entity."""
    from vantage6_client.exceptions import ApiError

    _check_spec(spec, source)
    report: list[dict[str, Any]] = []
    org_ids: dict[str, int] = {}
    existing_orgs = {o["name"]: o["id"] for o in client.organization.list().data}
    roles = {r["name"]: r["id"] for r in client.role.list(include_root=True).data}

    def note(kind: str, name: str, id_: Any, action: str, detail: str = "") -> None:
        report.append({"kind": kind, "name": name, "id": id_, "action": action, "detail": detail})

    for index, org in enumerate(spec.get("organizations") or []):
        org_name = str(org["name"])
        if org_name in existing_orgs:
            org_ids[org_name] = existing_orgs[org_name]
            note("organization", org_name, existing_orgs[org_name], "exists")
        else:
            fields = {
                k: (str(org[k]) if org.get(k) is not None else "")
                for k in ("domain", "address1", "address2", "zipcode", "country")
            }
            try:
                created = client.organization.create(
                    name=org_name, public_key=org.get("public_key") or None, **fields
                )
            except ApiError as exc:
                note("organization", org_name, None, "failed", exc.msg)
                continue
            org_ids[org_name] = created["id"]
            note("organization", org_name, created["id"], "created")
        existing_users = {
            u["username"] for u in client.user.list(organization=org_ids[org_name]).data
        }
        for uindex, user in enumerate(org.get("users") or []):
            username = str(user.get("username") or "")
            if not username:
                note(
                    "user",
                    "?",
                    None,
                    "failed",
                    f"organizations[{index}].users[{uindex}]: no username",
                )
                continue
            if username in existing_users:
                note("user", username, None, "exists")
                continue
            role_names = user.get("roles") or []
            unknown = [r for r in role_names if r not in roles]
            if unknown:
                note("user", username, None, "failed", f"unknown role(s) {unknown}")
                continue
            email = user.get("email") or (
                username if "@" in username else f"{username}@{org.get('domain') or 'example.org'}"
            )
            password = str(user.get("password") or "")
            weak = _password_problem(password) if password else "there is none"
            if weak:
                password = generate_password()
            try:
                created = client.user.create(
                    username=username,
                    firstname=user.get("firstname"),
                    lastname=user.get("lastname"),
                    password=password,
                    email=email,
                    organization=org_ids[org_name],
                    roles=[roles[r] for r in role_names],
                )
            except ApiError as exc:
                detail = exc.msg + (f" {exc.errors}" if exc.errors else "")
                note("user", username, None, "failed", detail)
                continue
            if weak:
                note(
                    "user",
                    username,
                    created["id"],
                    "created",
                    f"the file's password is not accepted ({weak}); password: {password}",
                )
                report[-1]["password"] = password
            else:
                note("user", username, created["id"], "created")

    existing_collabs = {c["name"]: c for c in client.collaboration.list(scope="global").data}
    for collab in spec.get("collaborations") or []:
        collab_name = str(collab["name"])
        participants = []
        for p in collab.get("participants") or []:
            participants.append(str(p["name"] if isinstance(p, dict) else p))
        missing = [p for p in participants if p not in org_ids and p not in existing_orgs]
        if missing:
            note("collaboration", collab_name, None, "failed", f"unknown organization(s) {missing}")
            continue
        member_ids = [org_ids.get(p) or existing_orgs[p] for p in participants]
        if collab_name in existing_collabs:
            collab_id = existing_collabs[collab_name]["id"]
            current = {o["id"] for o in client.organization.list(collaboration=collab_id).data}
            for org_id in member_ids:
                if org_id not in current:
                    client.collaboration.add_organization(org_id, collab_id)
            note("collaboration", collab_name, collab_id, "exists")
        else:
            try:
                created = client.collaboration.create(
                    collab_name,
                    member_ids,
                    encrypted=bool(collab.get("encrypted", False)),
                    encryption_scheme=collab.get("encryption_scheme"),
                )
            except ApiError as exc:
                note("collaboration", collab_name, None, "failed", exc.msg)
                continue
            collab_id = created["id"]
            note("collaboration", collab_name, collab_id, "created")
        existing_nodes = {
            n["organization"]["id"]: n for n in client.node.list(collaboration=collab_id).data
        }
        keys = {
            str(p["name"]): str(p["api_key"])
            for p in collab.get("participants") or []
            if isinstance(p, dict) and p.get("api_key")
        }
        for participant, org_id in zip(participants, member_ids, strict=True):
            if org_id in existing_nodes:
                found = existing_nodes[org_id]
                note("node", found.get("name") or participant, found["id"], "exists")
                continue
            node, detail = _create_node(client, collab_id, org_id, keys.get(participant))
            note("node", node["name"], node["id"], "created", detail)
            report[-1]["api_key"] = node["api_key"]
    return report


def _create_node(
    client: Any, collab_id: int, org_id: int, api_key: str | None
) -> tuple[dict[str, Any], str]:
    """Create a node with the file's API key when it has one the server accepts."""
    from vantage6_client.exceptions import BadRequestError

    body = {"collaboration_id": collab_id, "organization_id": org_id}
    if api_key:
        try:
            node = client.request("node", method="post", json={**body, "api_key": api_key})
            return node, "api_key: as in the file"
        except BadRequestError as exc:
            why = exc.msg if "api_key" in exc.msg or "API key" in exc.msg else str(exc.errors)
            node = client.request("node", method="post", json=body)
            return node, f"the file's api_key is not accepted ({why}); api_key: {node['api_key']}"
    node = client.request("node", method="post", json=body)
    return node, f"api_key: {node['api_key']}"
