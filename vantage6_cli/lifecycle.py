"""Commands shared by ``v6 server``, ``v6 store`` and ``v6 node``: start, stop, list, files,
logs, remove."""

from __future__ import annotations

import shutil
import socket
import time
from pathlib import Path
from typing import Any

import click
import httpx

from vantage6_cli import configs, output, process, wizard
from vantage6_cli.errors import (
    CONFIG,
    CONNECTION,
    ERROR,
    NO_RUNTIME,
    SERVER,
    STATE,
    TIMEOUT,
    CliError,
)
from vantage6_cli.instances import (
    SERVICES,
    Instance,
    instance_options,
    list_instances,
    resolve,
)
from vantage6_node.installation import read_instance_id, remove_instance_containers
from vantage6_node.status import FAILED, NO_SERVER, ONLINE, STOPPED, read_status


def server_ready(api_url: str) -> bool:
    try:
        return httpx.get(api_url + "/version", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def port_free(host: str, port: int) -> bool:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def start_instance(instance: Instance, timeout: float = 60.0) -> dict[str, Any]:
    """Validate and start a server, store or node; returns facts for the output."""
    if instance.kind in SERVICES:
        settings = configs.validate_service(instance)
        current = process.state(instance)
        if not current.running:
            from vantage6_cli.dbcheck import database_problem

            problem = database_problem(settings.database_uri, instance.data_dir)
            if problem:
                raise CliError(
                    f"{instance.label} cannot use its database: {problem}",
                    CONFIG,
                    hint=f"fix database_uri in {instance.config_file} (or start the database)",
                )
        if not current.running and not port_free(settings.host, settings.port):
            raise CliError(
                f"port {settings.port} on {settings.host} is already in use",
                STATE,
                hint=f"choose another port in {instance.config_file}",
            )
        env = {}
        if instance.root_password_file.is_file():
            env["V6_ROOT_PASSWORD_FILE"] = str(instance.root_password_file)
        api_url = configs.server_api_url(settings)
        started = process.start(
            instance,
            process.command_for(instance, settings),
            env=env,
            ready=lambda: server_ready(api_url),
            timeout=timeout,
        )
        return {"name": instance.name, "pid": started.pid, "api_url": api_url}
    config = configs.validate_node(instance)
    # (the runtime plugin sets up its own environment, such as its engine's configuration)
    if not process.state(instance).running:
        instance.status_file.unlink(missing_ok=True)
    started = process.start(
        instance,
        process.command_for(instance),
        ready=lambda: _node_online(instance),
        timeout=timeout,
        explain=lambda code: _node_failure(instance, code, timeout),
    )
    return {"name": instance.name, "pid": started.pid, "server": config.api_url}


#: what a node's failure ``kind`` (its status file) means as an exit code
_NODE_EXIT = {
    "config": CONFIG,
    "encryption": CONFIG,
    "runtime": NO_RUNTIME,
    "auth": SERVER,
    "server": CONNECTION,
}


def _node_online(instance: Instance) -> bool:
    found = read_status(instance.status_file)
    return found is not None and found["state"] == ONLINE


def _node_failure(instance: Instance, code: int | None, timeout: float) -> CliError:
    """The node's own reason for exiting (``code``) or for not being online in time."""
    found = read_status(instance.status_file) or {}
    detail = str(found.get("detail") or "")
    hint = f"its log: v6 {instance.kind} logs {process.ref(instance)} ({instance.log_file})"
    if code is not None:
        if found.get("state") == FAILED and detail:
            exit_code = _NODE_EXIT.get(str(found.get("kind")), ERROR)
            return CliError(f"{instance.label} did not start: {detail}", exit_code, hint=hint)
        return CliError(
            f"{instance.label} exited right after starting (exit code {code}); last lines of "
            f"{instance.log_file}:\n{process.tail_text(instance.log_file)}",
            ERROR,
        )
    if found.get("state") == NO_SERVER:
        return CliError(
            f"{instance.label} could not reach its server within {timeout:g} s, so it was "
            f"stopped: {detail}",
            CONNECTION,
            hint="check the server_url and port in the configuration and that the server runs; "
            "a longer wait: --timeout SECONDS",
        )
    doing = f" (it was {detail})" if detail else ""
    return CliError(
        f"{instance.label} was not online within {timeout:g} s{doing}, so it was stopped",
        TIMEOUT,
        hint=hint,
    )


def node_status(instance: Instance) -> tuple[str, str]:
    """``(status, detail)`` of a node: stopped, crashed, starting, online, no-server."""
    st = process.state(instance)
    if not st.running:
        return st.label, ""
    found = read_status(instance.status_file)
    if found is None or found.get("pid") != st.pid:
        return "running", ""
    state = found["state"]
    if state in (FAILED, STOPPED):
        state = "stopping"
    return state, str(found.get("detail") or "")


def stop_instance(instance: Instance, timeout: float) -> process.ProcessState:
    before = process.stop(instance, timeout)
    if instance.kind == "node":
        remove_node_containers(instance)
    return before


def node_instance_id(instance: Instance) -> str | None:
    """The id the node labels its containers with (None before its first start)."""
    try:
        config = configs.validate_node(instance, check_files=False)
    except CliError:
        return None
    return read_instance_id(Path(config.task_dir))


def remove_node_containers(instance: Instance) -> int:
    """Remove containers the node left behind (labelled with its instance id)."""
    ident = node_instance_id(instance)
    if ident is None:
        return 0
    try:
        config = configs.validate_node(instance, check_files=False)
    except CliError:
        return 0
    return remove_labelled_containers(config.runtime, config.runtime_options, ident)


def remove_labelled_containers(engine: str, options: dict[str, Any], ident: str) -> int:
    """Remove the containers of node installation ``ident`` from ``engine``; how many went."""
    from vantage6_node.runtime import load_runtime

    try:
        runtime = load_runtime(engine, **options)
    except Exception:  # noqa: BLE001 - no runtime, nothing to clean
        return 0
    try:
        if not runtime.is_available():
            return 0
        return remove_instance_containers(runtime, ident)
    finally:
        runtime.close()


def follow(instance: Instance) -> None:
    output.info(f"following {instance.log_file} (Ctrl-C stops following, not the {instance.kind})")
    try:
        process.print_log(instance.log_file, 20, True, lambda: process.state(instance).running)
    except KeyboardInterrupt:
        output.info(f"{instance.label} keeps running; stop it with: v6 {instance.kind} stop")


def report_new(instance: Instance, facts: dict[str, Any], as_json: bool) -> None:
    """What ``v6 KIND new`` made (``facts``), and how to start it."""
    if as_json:
        output.print_json(facts)
        return
    output.success(f"{instance.label} created")
    output.print_mapping(facts)
    output.info(f"start it with: v6 {instance.kind} start {process.ref(instance)}")


def add_lifecycle_commands(group: click.Group, kind: str) -> None:
    """Attach start/stop/list/files/logs/remove for ``kind`` to ``group``."""

    @group.command(
        "start",
        short_help="Start it in the background.",
        help=f"Start a {kind} in the background (its output goes to its log file).",
    )
    @instance_options(kind)
    @click.option("--attach", is_flag=True, help="Follow the log after starting.")
    @click.option(
        "--timeout", default=60.0, show_default=True, help="Seconds to wait until it is ready."
    )
    @output.json_option
    def start_cmd(
        name: str | None,
        config: Path | None,
        system: bool,
        attach: bool,
        timeout: float,
        as_json: bool,
    ) -> None:
        instance = resolve(kind, name, config, system)
        facts = start_instance(instance, timeout)
        facts["log"] = str(instance.log_file)
        if as_json:
            output.print_json(facts)
        else:
            done = "is online" if kind == "node" else "started"
            output.success(f"{instance.label} {done} (pid {facts['pid']})")
            for key in ("api_url", "server"):
                if key in facts:
                    output.info(f"  {key.replace('_', ' ')}: {facts[key]}")
            output.info(f"  log: {instance.log_file}")
        if attach:
            follow(instance)

    @group.command(
        "restart",
        short_help="Stop it (if it runs) and start it again.",
        help=f"Stop the {kind} if it runs and start it again (e.g. after changing its "
        "configuration).",
    )
    @instance_options(kind)
    @click.option(
        "--timeout",
        default=60.0,
        show_default=True,
        help="Seconds to wait for it to stop, and again to be ready.",
    )
    @click.option("--attach", is_flag=True, help="Follow the log after starting.")
    @output.json_option
    def restart_cmd(
        name: str | None,
        config: Path | None,
        system: bool,
        timeout: float,
        attach: bool,
        as_json: bool,
    ) -> None:
        instance = resolve(kind, name, config, system)
        before = stop_instance(instance, timeout)
        facts = start_instance(instance, timeout)
        facts["was"] = before.label
        if as_json:
            output.print_json(facts)
        else:
            done = "is online" if kind == "node" else "started"
            output.success(f"{instance.label} restarted and {done} (pid {facts['pid']})")
        if attach:
            follow(instance)

    @group.command(
        "attach",
        short_help="Follow its log (Ctrl-C stops following, not it).",
        help=f"Follow the log of a running {kind}; Ctrl-C stops following, the {kind} goes on.",
    )
    @instance_options(kind)
    def attach_cmd(name: str | None, config: Path | None, system: bool) -> None:
        instance = resolve(kind, name, config, system)
        if not process.state(instance).running:
            raise CliError(
                f"{instance.label} is not running",
                STATE,
                hint=f"start it with: v6 {kind} start {process.ref(instance)} --attach",
            )
        follow(instance)

    @group.command("version", short_help="Print the version.")
    @output.json_option
    def version_cmd(as_json: bool) -> None:
        output.print_version(kind, as_json)

    @group.command(
        "stop",
        short_help="Stop it (SIGTERM, then SIGKILL).",
        help=f"Stop a running {kind} (SIGTERM, then SIGKILL after --timeout).",
    )
    @instance_options(kind)
    @click.option("--timeout", default=20.0, show_default=True, help="Seconds before it is killed.")
    @click.option("--all", "all_", is_flag=True, help=f"Stop every running {kind}.")
    @output.json_option
    def stop_cmd(
        name: str | None,
        config: Path | None,
        system: bool,
        timeout: float,
        all_: bool,
        as_json: bool,
    ) -> None:
        if all_:
            targets = [i for i in list_instances(kind, system) if process.state(i).running]
        else:
            targets = [resolve(kind, name, config, system)]
        report = []
        for instance in targets:
            before = stop_instance(instance, timeout)
            report.append({"name": instance.name, "was": before.label, "pid": before.pid})
            if not as_json:
                if before.running:
                    output.success(f"{instance.label} stopped")
                else:
                    output.info(f"{instance.label} was not running")
        if as_json:
            output.print_json(report)

    @group.command(
        "list",
        short_help="List the configurations and their status.",
        help=f"List the {kind} configurations and whether they are running.",
    )
    @click.option(
        "--system/--user",
        "system",
        default=None,
        help="Only the system's or only the user's instances (default: both).",
    )
    @output.json_option
    def list_cmd(system: bool | None, as_json: bool) -> None:
        rows = []
        for instance in list_instances(kind, system):
            st = process.state(instance)
            row = {
                "name": instance.name,
                "scope": instance.scope,
                "status": st.label,
                "pid": st.pid if st.running else None,
                "config": str(instance.config_file),
            }
            if kind == "node":
                row["status"], row["detail"] = node_status(instance)
            rows.append(row)
        if as_json:
            output.print_json(rows)
            return
        columns = ["name", "scope", "status", "pid", "config"]
        if kind == "node":
            columns.insert(3, "detail")
        output.print_table(
            columns,
            [[r.get(c) for c in columns] for r in rows],
            empty=f"no {kind} configurations yet (create one with: v6 {kind} new NAME)",
        )

    @group.command(
        "files",
        short_help="Show its configuration, data and log files.",
        help=f"Show where the {kind}'s configuration, data and logs are.",
    )
    @instance_options(kind)
    @output.json_option
    def files_cmd(name: str | None, config: Path | None, system: bool, as_json: bool) -> None:
        instance = resolve(kind, name, config, system)
        files = {k: str(v) for k, v in instance.files().items()}
        if kind == "node":
            try:
                node_config = configs.validate_node(instance, check_files=False)
                files["task dir"] = str(node_config.task_dir)
                if node_config.encryption.private_key:
                    files["private key"] = str(node_config.encryption.private_key)
                for db in node_config.databases:
                    files[f"database {db.label}"] = db.uri
            except CliError:
                pass
        else:
            try:
                settings = configs.validate_service(instance)
                files["database"] = settings.database_uri
            except CliError:
                pass
        if as_json:
            output.print_json(files)
        else:
            output.print_table(["what", "where"], list(files.items()), title=instance.label)

    @group.command(
        "logs",
        short_help="Print its log (-f: follow it).",
        help=f"Print the {kind}'s log (with -f: keep following it).",
    )
    @instance_options(kind, short_name=False)
    @click.option("-f", "--follow", "follow_", is_flag=True, help="Keep printing new lines.")
    @click.option(
        "-n", "--lines", type=int, default=None, help="Only the last N lines (default: all)."
    )
    def logs_cmd(
        name: str | None, config: Path | None, system: bool, follow_: bool, lines: int | None
    ) -> None:
        instance = resolve(kind, name, config, system)
        try:
            process.print_log(
                instance.log_file, lines, follow_, lambda: process.state(instance).running
            )
        except KeyboardInterrupt:
            pass

    @group.command(
        "remove",
        short_help="Delete its configuration and data.",
        help=f"Delete a {kind}'s configuration (and its data).",
    )
    @instance_options(kind)
    @click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation.")
    @click.option("--keep-data", is_flag=True, help="Remove only the configuration file.")
    @wizard.no_input_option
    @output.json_option
    def remove_cmd(
        name: str | None,
        config: Path | None,
        system: bool,
        yes: bool,
        keep_data: bool,
        no_input: bool,
        as_json: bool,
    ) -> None:
        instance = resolve(kind, name, config, system)
        st = process.state(instance)
        if st.running:
            raise CliError(
                f"{instance.label} is running (pid {st.pid})",
                STATE,
                hint=f"stop it first: v6 {kind} stop {instance.name}",
            )
        what = "its configuration" if keep_data else "its configuration and all its data"
        wizard.confirm(f"Remove {instance.label} and {what}?", yes, no_input)
        removed = [str(instance.config_file)]
        instance.config_file.unlink(missing_ok=True)
        if not keep_data and instance.data_dir.exists():
            shutil.rmtree(instance.data_dir)
            removed.append(str(instance.data_dir))
        if as_json:
            output.print_json({"name": instance.name, "removed": removed})
        else:
            output.success(f"{instance.label} removed")
            for path in removed:
                output.info(f"  deleted {path}")


def wait_until(check: Any, timeout: float, interval: float = 0.2) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(interval)
    return False
