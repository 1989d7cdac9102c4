"""``v6 node``: create and run nodes (data stations)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from vantage6_cli import configs, output, process, wizard
from vantage6_cli.connect import logged_in
from vantage6_cli.errors import CONFIG, SERVER, STATE, USAGE, CliError
from vantage6_cli.instances import (
    instance_options,
    list_instances,
    name_option,
    new_instance,
    resolve,
    scope_options,
)
from vantage6_cli.lifecycle import add_lifecycle_commands, report_new
from vantage6_cli.nodecheck import KeyCheck, check_api_key, split_server_url, url_problem
from vantage6_cli.runtimes import DEFAULT_HELP, default_runtime, runtime_names
from vantage6_cli.wizard import Question
from vantage6_common.datasources import (
    DataSourceError,
    accepted_types,
    data_source_class,
    guess_type,
)
from vantage6_common.labels import LABEL_RULE, is_valid_label


@click.group("node")
def node() -> None:
    """Create, start and stop nodes (data stations)."""


def runtimes() -> list[str]:
    return runtime_names()


def known_database_types() -> list[str]:
    """The data source types a node configuration may name (installed loaders first)."""
    return accepted_types()


def _file_based(kind: str) -> bool:
    try:
        return data_source_class(kind).file_based
    except DataSourceError:
        return False


def parse_databases(values: tuple[str, ...], types: tuple[str, ...]) -> list[dict[str, str]]:
    """``--database LABEL=URI`` (repeatable) plus ``--database-type LABEL=TYPE``."""
    type_of: dict[str, str] = {}
    for item in types:
        label, sep, kind = item.partition("=")
        if not sep or kind not in known_database_types():
            raise CliError(
                f"--database-type {item!r}: use LABEL=TYPE with TYPE one of "
                + ", ".join(known_database_types()),
                USAGE,
            )
        type_of[label] = kind
    out = []
    for item in values:
        label, sep, uri = item.partition("=")
        if not sep or not label or not uri:
            raise CliError(f"--database {item!r}: use LABEL=URI, e.g. default=data.csv", USAGE)
        kind = type_of.get(label) or guess_type(uri)
        if _file_based(kind) or (kind == "sql" and "://" not in uri):
            path = Path(uri).expanduser().resolve()
            uri = str(path) if kind != "sql" else f"sqlite:///{path}"
        out.append({"label": label, "uri": uri, "type": kind})
    unknown = set(type_of) - {d["label"] for d in out}
    if unknown:
        raise CliError(f"--database-type for unknown label(s): {', '.join(sorted(unknown))}", USAGE)
    return out


def database_problem(entry: dict[str, str], taken: list[str]) -> str | None:
    """What is wrong with one data source (checked as the node will check it), or None."""
    from pydantic import ValidationError

    from vantage6_node.config import DatabaseConfig, format_validation_error

    if entry["label"].lower() in [t.lower() for t in taken]:
        return f"the label {entry['label']!r} is already used"
    try:
        DatabaseConfig.model_validate(entry, context={"base_dir": ".", "check_files": True})
    except ValidationError as exc:
        return format_validation_error(exc).replace("\n", "; ")
    return None


def _label_problem(value: str, taken: list[str]) -> str | None:
    if not is_valid_label(value):
        return LABEL_RULE
    if value.lower() in [t.lower() for t in taken]:
        return f"{value!r} is already used"
    return None


def _ask_databases() -> list[dict[str, str]]:
    """Ask for data sources one by one; each is checked before the next question."""
    import questionary

    def ask(prompt: Any) -> Any:
        answer = prompt.ask()
        if answer is None:
            raise CliError("cancelled", 130)
        return answer

    databases: list[dict[str, str]] = []
    while True:
        more = ask(
            questionary.confirm(
                "Add a database?" if not databases else "Add another database?",
                default=not databases,
            )
        )
        if not more:
            return databases
        taken = [d["label"] for d in databases]
        label = ask(
            questionary.text(
                "Label",
                default="default" if not databases else "",
                validate=lambda v, taken=taken: _label_problem(v, taken) or True,
            )
        )
        while True:
            uri = ask(
                questionary.text("Path or URI", validate=lambda v: bool(v.strip()) or "required")
            )
            kind = ask(
                questionary.select("Type", choices=known_database_types(), default=guess_type(uri))
            )
            entry = parse_databases((f"{label}={uri}",), (f"{label}={kind}",))[0]
            problem = database_problem(entry, taken)
            if problem is None:
                databases.append(entry)
                break
            output.error(f"{problem}; give the path or URI again")


def local_server() -> tuple[str, int, str] | None:
    """URL, port and API path of the server configured here (the newest one), for the
    wizard's defaults."""
    newest = configs.newest_server()
    if newest is None:
        return None
    settings = newest[1]
    base, port, _ = split_server_url(configs.server_api_url(settings))
    return base, port or settings.port, settings.api_path


def _regex_problem(value: Any) -> str | None:
    import re

    for item in _split_list(value):
        try:
            re.compile(item)
        except re.error as exc:
            return f"{item!r} is not a valid regular expression ({exc})"
    return None


def _split_list(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, list | tuple):
        return [str(v).strip() for v in value if str(v).strip()]
    return [part.strip() for part in str(value).split(",") if part.strip()]


def _server_location(
    server_url: str | None, port: int | None, api_path: str | None, no_input: bool
) -> tuple[str, int | None, str]:
    """The server's URL, port and API path: a pasted full URL gives all three (the port
    and path are then not asked); defaults come from the server configured here."""
    local = local_server()
    url_default = local[0] if local else "http://127.0.0.1"
    answers = wizard.answer(
        [
            Question(
                "server_url",
                "--server-url",
                "Server URL",
                default=url_default,
                validate=url_problem,
            )
        ],
        {"server_url": server_url},
        no_input,
    )
    base, url_port, url_path = split_server_url(answers["server_url"])
    for flag, given, found in (("--port", port, url_port), ("--api-path", api_path, url_path)):
        if given is not None and found is not None and str(given) != str(found):
            raise CliError(f"{flag} {given} differs from the one in --server-url ({found})", USAGE)
    port = port if port is not None else url_port
    api_path = api_path if api_path is not None else url_path
    if local and base in (local[0], "http://localhost"):
        default_port, default_path = local[1], local[2]
    else:
        default_port = 443 if base.startswith("https://") else 7601
        default_path = "/api"
    questions = []
    if url_port is None:
        questions.append(
            Question(
                "port",
                "--port",
                "Server port",
                kind="int",
                default=default_port,
                validate=lambda v: None if 1 <= int(v) <= 65535 else "must be 1-65535",
            )
        )
    if url_path is None:
        questions.append(Question("api_path", "--api-path", "API path", default=default_path))
    rest = wizard.answer(questions, {"port": port, "api_path": api_path}, no_input)
    return base, rest.get("port", port), rest.get("api_path", api_path) or ""


def _api_key_and_check(
    api_url: str, api_key: str | None, check: bool, no_input: bool
) -> tuple[str, KeyCheck | None]:
    """Ask for the API key and try it against the server; a refused key is asked again (or,
    given as a flag, ends the command)."""
    given = api_key
    while True:
        key = wizard.answer(
            [Question("api_key", "--api-key", "API key of the node", kind="secret", required=True)],
            {"api_key": given},
            no_input,
        )["api_key"]
        if not check:
            return key, None
        result = check_api_key(api_url, key)
        if result.accepted:
            where = f"node '{result.node}'" if result.node else "the node"
            if result.organization:
                where += f" of '{result.organization}'"
            if result.collaboration:
                where += f" in collaboration '{result.collaboration}'"
            output.success(f"the server accepted the API key: {where}")
            return key, result
        if not result.reachable:
            output.warn(f"{result.reason}; the API key is not checked")
            return key, result
        if given is not None or not wizard.is_interactive(no_input):
            raise CliError(
                result.reason, SERVER, hint="check the key (or the server URL), or pass --no-check"
            )
        output.error(f"{result.reason}; please enter it again")


@node.command("new", short_help="Create a node configuration (a wizard).")
@click.argument("name", required=False)
@name_option("node")
@click.option(
    "--server-url",
    help="URL of the server; a full URL such as http://host:7601/api also gives the port and "
    "the API path.  [default: the server configured here, else http://127.0.0.1]",
)
@click.option(
    "--port",
    type=int,
    help="Port of the server.  [default: that of the server configured here, else 7601]",
)
@click.option("--api-path", help="API path of the server.  [default: /api]")
@click.option("--api-key", envvar="V6_API_KEY", help="The node's API key [env V6_API_KEY].")
@click.option(
    "--check/--no-check",
    default=True,
    show_default=True,
    help="Try the API key against the server (and take the collaboration's encryption "
    "setting from it).",
)
@click.option(
    "--database",
    "databases",
    multiple=True,
    metavar="LABEL=URI",
    help="A data source (repeatable); its type is guessed from the file name.",
)
@click.option(
    "--database-type",
    "database_types",
    multiple=True,
    metavar="LABEL=TYPE",
    help="Type of a data source: an installed data source type (csv, parquet, excel, sql "
    "and any plugin in the entry point group vantage6.data_sources), sparql or other.",
)
@click.option(
    "--task-dir",
    type=click.Path(path_type=Path),
    help="Folder for run files.  [default: tasks/ in the data folder]",
)
@click.option(
    "--encryption/--no-encryption",
    default=None,
    help="The collaboration is encrypted (needs a private key).  [default: as the server "
    "says, else no]",
)
@click.option(
    "--private-key",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Private key file (created when missing).  [default: private_key.pem in the data folder]",
)
@click.option(
    "--runtime",
    type=click.Choice(runtimes()),
    help=f"Container runtime.  [default: {DEFAULT_HELP}]",
)
@click.option(
    "--allowed-algorithm",
    "allowed_algorithms",
    multiple=True,
    help="Only allow these images (repeatable; regular expressions allowed).  [default: any]",
)
@click.option(
    "--pull/--no-pull",
    "require_pull",
    default=None,
    help="Always pull algorithm images before running them; off: use the local image when "
    "there is one (needed for localhost/ images), pull otherwise.  [default: off]",
)
@click.option("--overwrite", is_flag=True, help="Replace an existing configuration.")
@scope_options
@wizard.no_input_option
@output.json_option
def node_new(
    name: str | None,
    server_url: str | None,
    port: int | None,
    api_path: str | None,
    api_key: str | None,
    check: bool,
    databases: tuple[str, ...],
    database_types: tuple[str, ...],
    task_dir: Path | None,
    encryption: bool | None,
    private_key: Path | None,
    runtime: str | None,
    allowed_algorithms: tuple[str, ...],
    require_pull: bool | None,
    overwrite: bool,
    system: bool,
    no_input: bool,
    as_json: bool,
) -> None:
    """Create the configuration of a new node (asks in a terminal; every question is also a
    flag). Each answer is checked when it is given: the API key against the server, data
    files on disk."""
    instance = new_instance("node", name, system, overwrite, no_input)
    base, port, api_path = _server_location(server_url, port, api_path, no_input)
    api_url = f"{base}:{port}{api_path}" if port is not None else f"{base}{api_path}"
    key, key_check = _api_key_and_check(api_url, api_key, check, no_input)
    server_encrypted = key_check.encrypted if key_check is not None else None
    if server_encrypted is not None:
        if encryption is not None and encryption != server_encrypted:
            state = "encrypted" if server_encrypted else "not encrypted"
            raise CliError(
                f"the node's collaboration is {state}, so "
                f"{'--encryption' if encryption else '--no-encryption'} would stop the node",
                USAGE,
            )
        output.info(
            f"the collaboration is {'encrypted' if server_encrypted else 'not encrypted'}; "
            "the node is set up for that"
        )
        encryption = server_encrypted
    dbs = parse_databases(databases, database_types)
    for index, entry in enumerate(dbs):
        problem = database_problem(entry, [d["label"] for d in dbs[:index]])
        if problem:
            raise CliError(f"--database {entry['label']}: {problem}", CONFIG)
    if not databases and wizard.is_interactive(no_input):
        dbs = _ask_databases()
    questions = [
        Question(
            "runtime",
            "--runtime",
            "Container runtime",
            kind="select",
            choices=runtimes(),
            default=default_runtime(),
        ),
        Question(
            "allowed_algorithms",
            "--allowed-algorithm",
            "Allowed algorithm images (comma-separated regular expressions; empty: any)",
            default="",
            validate=_regex_problem,
        ),
        Question(
            "require_pull",
            "--pull/--no-pull",
            "Always pull algorithm images before running them (fails for local-only "
            "images such as localhost/...)?",
            kind="confirm",
            default=False,
        ),
        Question(
            "encryption",
            "--encryption/--no-encryption",
            "Is the collaboration encrypted?",
            kind="confirm",
            default=False,
        ),
    ]
    given = {
        "runtime": runtime,
        "allowed_algorithms": list(allowed_algorithms) or None,
        "require_pull": require_pull,
        "encryption": encryption,
    }
    answers = wizard.answer(questions, given, no_input)
    data: dict[str, Any] = {
        "api_key": key,
        "server_url": base,
        "port": port,
        "api_path": api_path,
        "task_dir": str((task_dir or instance.data_dir / "tasks").expanduser().resolve()),
        "databases": dbs,
        "runtime": answers["runtime"],
        "policies": {"require_algorithm_pull": bool(answers["require_pull"])},
    }
    if port is None:
        del data["port"]
    allowed = _split_list(answers["allowed_algorithms"])
    if allowed:
        data["policies"]["allowed_algorithms"] = allowed
    if answers["encryption"]:
        key_file = (private_key or instance.data_dir / "private_key.pem").expanduser().resolve()
        if not key_file.exists():
            from vantage6_common import crypto

            output.info(f"generating a 4096-bit RSA private key in {key_file} ...")
            crypto.save_private_key(crypto.generate_private_key(), key_file)
        data["encryption"] = {"enabled": True, "private_key": str(key_file)}
    instance.data_dir.mkdir(parents=True, exist_ok=True)
    configs.write_yaml(
        instance.config_file,
        data,
        header=configs.HEADER.format(kind="node", name=instance.name),
        private=True,  # it holds the API key
    )
    try:
        configs.validate_node(instance)
    except CliError as exc:
        kept = instance.config_file.with_name(instance.config_file.name + ".rejected")
        instance.config_file.replace(kept)
        raise CliError(
            f"not written, the answers are invalid: {exc.message}",
            exc.code,
            hint=f"your answers are kept in {kept}: fix the key named above and rename it to "
            f"{instance.config_file.name}, or run v6 node new again",
        ) from None
    result = {
        "name": instance.name,
        "config_file": str(instance.config_file),
        "data_dir": str(instance.data_dir),
        "server": api_url,
        "databases": [d["label"] for d in dbs],
        "encryption": bool(answers["encryption"]),
        "api_key_checked": bool(key_check and key_check.accepted),
    }
    report_new(instance, result, as_json)


add_lifecycle_commands(node, "node")


@node.command("clean", short_help="Remove containers left by stopped nodes.")
@instance_options("node")
@output.json_option
def node_clean(name: str | None, config: Path | None, system: bool, as_json: bool) -> None:
    """Remove the containers (algorithm runs, forwarders) that stopped or crashed nodes left
    behind; running nodes are not touched. Without NAME: every node here."""
    from vantage6_cli.lifecycle import remove_node_containers

    if name is None and config is None:
        targets = list_instances("node", system)
    else:
        targets = [resolve("node", name, config, system)]
        if process.state(targets[0]).running:
            raise CliError(
                f"{targets[0].label} is running; its containers are in use",
                STATE,
                hint=f"stop it first: v6 node stop {targets[0].name}",
            )
    report = []
    for instance in targets:
        if process.state(instance).running:
            report.append({"name": instance.name, "removed": 0, "skipped": "running"})
            continue
        report.append({"name": instance.name, "removed": remove_node_containers(instance)})
    if as_json:
        output.print_json(report)
        return
    output.print_table(
        ["node", "containers removed", "note"],
        [[r["name"], r["removed"], r.get("skipped", "")] for r in report],
        empty="no node configurations here",
    )


@node.command("set-api-key")
@instance_options("node")
@click.option("--api-key", envvar="V6_API_KEY", help="The new API key [env V6_API_KEY].")
@wizard.no_input_option
def node_set_api_key(
    name: str | None, config: Path | None, system: bool, api_key: str | None, no_input: bool
) -> None:
    """Put a new API key in the node's configuration."""
    instance = resolve("node", name, config, system)
    answers = wizard.answer(
        [Question("api_key", "--api-key", "New API key", kind="secret", required=True)],
        {"api_key": api_key},
        no_input,
    )
    data = configs.read_yaml(instance.config_file)
    data["api_key"] = answers["api_key"]
    configs.write_yaml(instance.config_file, data, private=True)
    output.success(f"API key of node '{instance.name}' updated")
    if process.state(instance).running:
        output.warn(
            f"the node is running; restart it to use the new key: v6 node stop "
            f"{instance.name} && v6 node start {instance.name}"
        )


@node.command("create-private-key", short_help="Create the organization's key pair.")
@instance_options("node")
@click.option("--overwrite", is_flag=True, help="Replace an existing key file.")
@click.option(
    "--upload/--no-upload",
    default=False,
    show_default=True,
    help="Upload the public key to the server now (needs a user login of the organization; "
    "otherwise the node uploads it when it starts).",
)
@click.option("--username", envvar="V6_USERNAME", help="For --upload [env V6_USERNAME].")
@click.option("--password", envvar="V6_PASSWORD", help="For --upload [env V6_PASSWORD].")
@click.option(
    "--encryption/--no-encryption",
    default=None,
    help="Turn the node's encryption on or off.  [default: as the server says the node's "
    "collaboration is; unchanged when it cannot be asked]",
)
@output.json_option
def node_create_private_key(
    name: str | None,
    config: Path | None,
    system: bool,
    overwrite: bool,
    upload: bool,
    username: str | None,
    password: str | None,
    encryption: bool | None,
    as_json: bool,
) -> None:
    """Create the organization's RSA key pair; encryption is turned on in the configuration
    when the node's collaboration is encrypted (the server is asked with the node's key)."""
    from vantage6_common import crypto

    instance = resolve("node", name, config, system)
    node_config = configs.validate_node(instance, check_files=False)
    if encryption is None:
        check = check_api_key(node_config.api_url, node_config.api_key)
        if check.accepted and check.encrypted is not None:
            encryption = check.encrypted
        else:
            encryption = bool(node_config.encryption.enabled)
            output.warn(
                f"{check.reason or 'the server did not say'}; whether the collaboration is "
                f"encrypted is unknown, so encryption stays {'on' if encryption else 'off'} "
                "(--encryption/--no-encryption set it)"
            )
    key_path = node_config.encryption.private_key or (instance.data_dir / "private_key.pem")
    key_path = Path(key_path)
    if key_path.exists() and not overwrite:
        raise CliError(
            f"{key_path} exists; pass --overwrite to replace it (data encrypted for the old "
            "key can then no longer be read)",
            STATE,
        )
    output.info("generating a 4096-bit RSA key ...")
    crypto.save_private_key(crypto.generate_private_key(), key_path)
    data = configs.read_yaml(instance.config_file)
    settings = dict(data.get("encryption") or {})
    settings.update(enabled=encryption, private_key=str(key_path))
    data["encryption"] = settings
    configs.write_yaml(instance.config_file, data, private=True)
    public = crypto.Cryptor(key_path).public_key_str
    uploaded = False
    if upload:
        with logged_in(node_config.api_url, username, password) as client:
            client.setup_encryption(key_path)  # uploads when the server has another key
            uploaded = True
    result = {
        "private_key": str(key_path),
        "public_key": public,
        "uploaded": uploaded,
        "encryption": encryption,
    }
    if as_json:
        output.print_json(result)
        return
    output.info(
        "encryption is on for this node"
        if encryption
        else "the collaboration is not encrypted: encryption stays off for this node"
    )
    output.success(
        f"private key written to {key_path} (keep it secret; only this node and "
        "your organization's researchers need it)"
    )
    if uploaded:
        output.info("public key uploaded to the server")
    else:
        output.info("the node uploads the public key when it starts")
