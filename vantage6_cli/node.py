"""``v6 node``: create and run nodes (data stations)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from vantage6_cli import configs, output, process, wizard
from vantage6_cli.connect import logged_in
from vantage6_cli.errors import STATE, USAGE, CliError
from vantage6_cli.instances import instance_options, new_instance, resolve, scope_options
from vantage6_cli.lifecycle import add_lifecycle_commands
from vantage6_cli.wizard import Question

DATABASE_TYPES = ("csv", "parquet", "excel", "sql", "sparql", "other")


@click.group("node")
def node() -> None:
    """Create, start and stop nodes (data stations)."""


def runtimes() -> list[str]:
    try:
        from vantage6_node.runtime import available_runtimes

        return available_runtimes() or ["podman", "docker"]
    except Exception:  # noqa: BLE001
        return ["podman", "docker"]


def guess_type(uri: str) -> str:
    lower = uri.lower()
    if "://" in lower and not lower.startswith("file://"):
        return "sql"
    for suffix, kind in (
        (".csv", "csv"),
        (".parquet", "parquet"),
        (".xlsx", "excel"),
        (".xls", "excel"),
        (".sqlite", "sql"),
        (".db", "sql"),
    ):
        if lower.endswith(suffix):
            return kind
    return "other"


def parse_databases(values: tuple[str, ...], types: tuple[str, ...]) -> list[dict[str, str]]:
    """``--database LABEL=URI`` (repeatable) plus ``--database-type LABEL=TYPE``."""
    type_of: dict[str, str] = {}
    for item in types:
        label, sep, kind = item.partition("=")
        if not sep or kind not in DATABASE_TYPES:
            raise CliError(
                f"--database-type {item!r}: use LABEL=TYPE with TYPE one of "
                + ", ".join(DATABASE_TYPES),
                USAGE,
            )
        type_of[label] = kind
    out = []
    for item in values:
        label, sep, uri = item.partition("=")
        if not sep or not label or not uri:
            raise CliError(f"--database {item!r}: use LABEL=URI, e.g. default=data.csv", USAGE)
        kind = type_of.get(label) or guess_type(uri)
        if kind in ("csv", "parquet", "excel") or (kind == "sql" and "://" not in uri):
            path = Path(uri).expanduser().resolve()
            uri = str(path) if kind != "sql" else f"sqlite:///{path}"
        out.append({"label": label, "uri": uri, "type": kind})
    unknown = set(type_of) - {d["label"] for d in out}
    if unknown:
        raise CliError(f"--database-type for unknown label(s): {', '.join(sorted(unknown))}", USAGE)
    return out


def _ask_databases() -> list[dict[str, str]]:
    import questionary

    databases: list[dict[str, str]] = []
    while True:
        more = questionary.confirm(
            "Add a database?" if not databases else "Add another database?",
            default=not databases,
        ).ask()
        if more is None:
            raise CliError("cancelled", 130)
        if not more:
            return databases
        label = questionary.text(
            "Label",
            default="default" if not databases else "",
            validate=lambda v: True if v.isidentifier() else "letters, digits and _ only",
        ).ask()
        uri = questionary.text(
            "Path or URI", validate=lambda v: bool(v.strip()) or "required"
        ).ask()
        if label is None or uri is None:
            raise CliError("cancelled", 130)
        kind = questionary.select(
            "Type", choices=list(DATABASE_TYPES), default=guess_type(uri)
        ).ask()
        if kind is None:
            raise CliError("cancelled", 130)
        databases.extend(parse_databases((f"{label}={uri}",), (f"{label}={kind}",)))


@node.command("new", short_help="Create a node configuration (a wizard).")
@click.argument("name", required=False)
@click.option("--server-url", help="URL of the server.  [default: http://127.0.0.1]")
@click.option("--port", type=int, help="Port of the server.  [default: 7601]")
@click.option("--api-path", help="API path of the server.  [default: /api]")
@click.option("--api-key", envvar="V6_API_KEY", help="The node's API key [env V6_API_KEY].")
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
    help=f"Type of a data source: {', '.join(DATABASE_TYPES)}.",
)
@click.option(
    "--task-dir",
    type=click.Path(path_type=Path),
    help="Folder for run files.  [default: tasks/ in the data folder]",
)
@click.option(
    "--encryption/--no-encryption",
    default=None,
    help="The collaboration is encrypted (needs a private key).  [default: no]",
)
@click.option(
    "--private-key",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Private key file (created when missing).  [default: private_key.pem in the data folder]",
)
@click.option(
    "--runtime",
    type=click.Choice(runtimes()),
    help="Container runtime.  [default: podman]",
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
    help="Pull algorithm images before running them (off for local images).  [default: pull]",
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
    flag)."""
    instance = new_instance("node", name, system, overwrite, no_input)
    questions = [
        Question(
            "server_url",
            "--server-url",
            "Server URL",
            default="http://127.0.0.1",
            validate=lambda v: (
                None
                if str(v).startswith(("http://", "https://"))
                else "must start with http:// or https://"
            ),
        ),
        Question("port", "--port", "Server port", kind="int", default=7601),
        Question("api_path", "--api-path", "API path", default="/api"),
        Question("api_key", "--api-key", "API key of the node", kind="secret", required=True),
        Question(
            "runtime",
            "--runtime",
            "Container runtime",
            kind="select",
            choices=runtimes(),
            default="podman" if "podman" in runtimes() else runtimes()[0],
        ),
        Question(
            "require_pull",
            "--pull/--no-pull",
            "Pull algorithm images before running them?",
            kind="confirm",
            default=True,
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
        "server_url": server_url,
        "port": port,
        "api_path": api_path,
        "api_key": api_key,
        "runtime": runtime,
        "require_pull": require_pull,
        "encryption": encryption,
    }
    answers = wizard.answer(questions, given, no_input)
    dbs = parse_databases(databases, database_types)
    if not databases and wizard.is_interactive(no_input):
        dbs = _ask_databases()
    data: dict[str, Any] = {
        "api_key": answers["api_key"],
        "server_url": answers["server_url"].rstrip("/"),
        "port": answers["port"],
        "api_path": answers["api_path"],
        "task_dir": str((task_dir or instance.data_dir / "tasks").expanduser().resolve()),
        "databases": dbs,
        "runtime": answers["runtime"],
        "policies": {"require_algorithm_pull": bool(answers["require_pull"])},
    }
    if allowed_algorithms:
        data["policies"]["allowed_algorithms"] = list(allowed_algorithms)
    if answers["encryption"]:
        key = (private_key or instance.data_dir / "private_key.pem").expanduser().resolve()
        if not key.exists():
            from vantage6_common import crypto

            output.info(f"generating a 4096-bit RSA private key in {key} ...")
            crypto.save_private_key(crypto.generate_private_key(), key)
        data["encryption"] = {"enabled": True, "private_key": str(key)}
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
        instance.config_file.unlink(missing_ok=True)
        raise CliError(f"not written, the answers are invalid: {exc.message}", exc.code) from None
    result = {
        "name": instance.name,
        "config_file": str(instance.config_file),
        "data_dir": str(instance.data_dir),
        "server": f"{data['server_url']}:{data['port']}{data['api_path']}",
        "databases": [d["label"] for d in dbs],
    }
    if as_json:
        output.print_json(result)
        return
    output.success(f"node '{instance.name}' created")
    output.print_mapping(result)
    output.info(f"start it with: v6 node start {instance.name}")


add_lifecycle_commands(node, "node")


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
@output.json_option
def node_create_private_key(
    name: str | None,
    config: Path | None,
    system: bool,
    overwrite: bool,
    upload: bool,
    username: str | None,
    password: str | None,
    as_json: bool,
) -> None:
    """Create the organization's RSA key pair and turn encryption on in the configuration."""
    from vantage6_common import crypto

    instance = resolve("node", name, config, system)
    node_config = configs.validate_node(instance, check_files=False)
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
    encryption = dict(data.get("encryption") or {})
    encryption.update(enabled=True, private_key=str(key_path))
    data["encryption"] = encryption
    configs.write_yaml(instance.config_file, data, private=True)
    public = crypto.Cryptor(key_path).public_key_str
    uploaded = False
    if upload:
        with logged_in(node_config.api_url, username, password) as client:
            client.setup_encryption(key_path)  # uploads when the server has another key
            uploaded = True
    result = {"private_key": str(key_path), "public_key": public, "uploaded": uploaded}
    if as_json:
        output.print_json(result)
        return
    output.success(
        f"private key written to {key_path} (keep it secret; only this node and "
        "your organization's researchers need it)"
    )
    if uploaded:
        output.info("public key uploaded to the server")
    else:
        output.info("the node uploads the public key when it starts")
