"""``v6 task``: create tasks, follow them and read their results."""

from __future__ import annotations

import json
import time
from typing import Any

import click

from vantage6_cli import output
from vantage6_cli.connect import Login, login_options
from vantage6_cli.errors import (
    INTERRUPTED,
    NOT_FOUND,
    OK,
    TASK_FAILED,
    TIMEOUT,
    USAGE,
    CliError,
)
from vantage6_client.exceptions import WaitTimeoutError
from vantage6_common.related import related_id
from vantage6_common.status import RunStatus


@click.group("task")
def task() -> None:
    """Create tasks, wait for them and get their results.

    Log in with --server-url/--username/--password or the V6_SERVER_URL, V6_USERNAME and
    V6_PASSWORD environment variables.
    """


def _json_arg(value: str | None, what: str, kind: type) -> Any:
    if value is None:
        return kind()
    try:
        parsed = json.loads(value)
    except ValueError as exc:
        raise CliError(f"{what}: not valid JSON ({exc})", USAGE) from None
    if not isinstance(parsed, kind):
        raise CliError(f"{what}: must be a JSON {kind.__name__}", USAGE)
    return parsed


def _kwarg(item: str) -> tuple[str, Any]:
    key, sep, raw = item.partition("=")
    if not sep or not key.isidentifier():
        raise CliError(f"--kwarg {item!r}: use NAME=VALUE (VALUE as JSON, or text)", USAGE)
    try:
        return key, json.loads(raw)
    except ValueError:
        return key, raw


def _task_row(t: dict[str, Any]) -> list[Any]:
    return [
        t.get("id"),
        t.get("name"),
        t.get("image"),
        t.get("status"),
        related_id(t.get("collaboration")),
        related_id(t.get("init_org")),
        (t.get("created_at") or "")[:19],
    ]


TASK_COLUMNS = ["id", "name", "image", "status", "collaboration", "by org", "created"]


def only_collaboration(client: Any) -> int:
    """The id of the user's collaboration when there is exactly one."""
    found = client.collaboration.list().data
    if len(found) == 1:
        output.info(f"collaboration {found[0]['id']} ({found[0]['name']}): your only one")
        return int(found[0]["id"])
    if not found:
        raise CliError("you are in no collaboration", NOT_FOUND)
    names = ", ".join(f"{c['id']} ({c['name']})" for c in found[:10])
    raise CliError(
        f"you are in {len(found)} collaborations: pass --collaboration ID (one of {names})",
        USAGE,
        hint="list them with: v6 collaboration list",
    )


def node_labels(
    client: Any, collaboration: int | None, study: int | None, orgs: list[int]
) -> list[set[str]] | None:
    """The database labels each organization's node reported, or None when unknown."""
    from vantage6_client.exceptions import ApiError

    if collaboration is None and study is not None:
        try:
            collaboration = related_id(client.study.get(study).get("collaboration"))
        except ApiError:
            return None
    try:
        nodes = client.node.list(collaboration=collaboration).data
    except ApiError:
        return None
    found = []
    for org in orgs:
        mine = [n for n in nodes if related_id(n.get("organization")) == org]
        labels = {
            str(item.get("value"))
            for n in mine
            for item in n.get("config") or []
            if isinstance(item, dict) and item.get("key") == "database_labels"
        }
        if not labels:
            return None
        found.append(labels)
    return found


def default_database(
    client: Any, collaboration: int | None, study: int | None, orgs: list[int]
) -> str:
    """The database label to use when none is given: the only one the nodes have."""
    per_org = node_labels(client, collaboration, study, orgs)
    if per_org:
        common = set.intersection(*per_org)
        if len(common) == 1:
            label = next(iter(common))
            output.info(f"database '{label}': the only one the nodes have")
            return label
        known = ", ".join(sorted(set.union(*per_org)))
        raise CliError(
            f"which database? pass --database LABEL (the nodes have: {known}), or "
            "--no-database for an algorithm that reads no data",
            USAGE,
        )
    raise CliError(
        "which database? pass --database LABEL (e.g. default), or --no-database for an "
        "algorithm that reads no data (the nodes have not reported their databases)",
        USAGE,
    )


@task.command("create")
@login_options
@click.option(
    "--collaboration",
    "-C",
    type=int,
    envvar="V6_COLLABORATION",
    help="Collaboration id [env V6_COLLABORATION].",
)
@click.option("--study", type=int, help="Study id (instead of a collaboration).")
@click.option(
    "--organization",
    "-o",
    "organizations",
    type=int,
    multiple=True,
    help="Organization to run on (repeatable).  [default: your own]",
)
@click.option(
    "--algorithm",
    "-a",
    "algorithm_name",
    help="An approved algorithm of the collaboration's algorithm store(s), by name: its "
    "function and --arg values are checked against the store before the task is created.",
)
@click.option(
    "--image", "-i", help="Algorithm image, e.g. localhost/v6-demo (or --algorithm NAME)."
)
@click.option("--method", "--function", "-m", "method", help="Function of the algorithm to run.")
@click.option("--args", "args_json", help="Positional arguments as a JSON list.")
@click.option("--kwargs", "kwargs_json", help="Keyword arguments as a JSON object.")
@click.option(
    "--kwarg",
    "--arg",
    "kwarg_items",
    multiple=True,
    metavar="NAME=VALUE",
    help="One keyword argument (repeatable; VALUE is JSON, else text; with --algorithm: "
    "read as the type the store gives the argument).",
)
@click.option(
    "--database",
    "-d",
    "databases",
    multiple=True,
    metavar="LABEL",
    help="Node database label (repeatable).  [default: the one label the nodes have]",
)
@click.option(
    "--query",
    help="SQL query for the (one) sql database, e.g. 'SELECT age FROM patients'.",
)
@click.option("--sheet", help="Sheet name for the (one) excel database.")
@click.option(
    "--no-database",
    is_flag=True,
    help="The algorithm reads no node data (e.g. a central function that only makes subtasks).",
)
@click.option("--name", default="v6 cli task", show_default=True, help="Task name.")
@click.option("--description", default="", help="Task description.")
@click.option("--wait", is_flag=True, help="Wait for the task and print its results.")
@click.option("--timeout", type=float, help="With --wait: give up after this many seconds.")
@output.json_option
def task_create(
    login: Login,
    collaboration: int | None,
    study: int | None,
    organizations: tuple[int, ...],
    algorithm_name: str | None,
    image: str | None,
    method: str | None,
    args_json: str | None,
    kwargs_json: str | None,
    kwarg_items: tuple[str, ...],
    databases: tuple[str, ...],
    query: str | None,
    sheet: str | None,
    no_database: bool,
    name: str,
    description: str,
    wait: bool,
    timeout: float | None,
    as_json: bool,
) -> None:
    """Create a task: run a function of an algorithm (an approved one of a store with
    --algorithm, or any IMAGE) at the given organizations.

    Without --collaboration, your only collaboration is used. Without --database, the one
    database label the organizations' nodes have is used (else pass --database or
    --no-database).
    """
    if no_database and (databases or query or sheet):
        raise CliError("--no-database cannot go with --database, --query or --sheet", USAGE)
    if (query or sheet) and len(databases) > 1:
        raise CliError("--query and --sheet apply to one database: give one --database", USAGE)
    if method is None:
        raise CliError("which function? pass --function NAME (or --method)", USAGE)
    if algorithm_name is None and image is None:
        raise CliError("what to run? pass --algorithm NAME (from a store) or --image IMAGE", USAGE)
    if algorithm_name is not None and (args_json or kwargs_json):
        raise CliError("with --algorithm, give arguments as --arg NAME=VALUE", USAGE)
    store_id: int | None = None
    if algorithm_name is None:
        kwargs = _json_arg(kwargs_json, "--kwargs", dict)
        kwargs.update(dict(_kwarg(item) for item in kwarg_items))
        args = _json_arg(args_json, "--args", list)
        input_ = {"method": method, "args": args, "kwargs": kwargs}
    with login.client() as client:
        if collaboration is None and study is None:
            collaboration = only_collaboration(client)
        if algorithm_name is not None:
            from vantage6_cli import storetask

            where = collaboration
            if where is None:
                where = related_id(client.study.get(study).get("collaboration"))
            found = storetask.find_algorithm(client, int(where), algorithm_name, image)
            input_ = storetask.task_input(found, method, kwarg_items)
            image, store_id = found.image, found.store_id
            if not databases and not query and not sheet and storetask.reads_no_data(found, method):
                no_database = True
        orgs = list(organizations) or [client.whoami.organization_id]
        labels = list(databases)
        if not labels and not no_database:
            labels = [default_database(client, collaboration, study, orgs)]
        entries: list[dict[str, Any]] = [{"label": label} for label in labels]
        if query:
            entries[0]["query"] = query
        if sheet:
            entries[0]["sheet_name"] = sheet
        created = client.task.create(
            organizations=orgs,
            name=name,
            image=image,
            description=description,
            input_=input_,
            collaboration=collaboration,
            study=study,
            store=store_id,
            databases=entries,
        )
        if not wait:
            if as_json:
                output.print_json(created)
            else:
                output.success(f"task {created['id']} created")
                output.print_table(TASK_COLUMNS, [_task_row(created)])
                output.info(f"follow it with: v6 task wait {created['id']}")
            return
        if not as_json:
            output.info(f"task {created['id']} created")
        code = _wait_and_report(client, created["id"], timeout, as_json, show_results=True)
    raise SystemExit(code)


@task.command("list")
@login_options
@click.option("--collaboration", "-C", type=int, help="Only this collaboration.")
@click.option(
    "--status",
    type=click.Choice([s.value for s in RunStatus], case_sensitive=False),
    help="Only tasks with this status.",
)
@click.option("--name", help="Only tasks with this name.")
@click.option("--image", help="Only tasks with this image.")
@click.option("--mine", is_flag=True, help="Only tasks you created.")
@click.option("--page", type=int, help="Only this page (default: all tasks).")
@click.option("--per-page", type=int, default=20, show_default=True, help="Page size.")
@output.json_option
def task_list(
    login: Login,
    collaboration: int | None,
    status: str | None,
    name: str | None,
    image: str | None,
    mine: bool,
    page: int | None,
    per_page: int,
    as_json: bool,
) -> None:
    """List tasks."""
    with login.client() as client:
        tasks = client.task.list(
            collaboration=collaboration,
            status=status,
            name=name,
            image=image,
            initiating_user=client.whoami.id if mine else None,
            page=page,
            per_page=per_page,
        )
    if as_json:
        output.print_json(tasks.data)
        return
    output.print_table(TASK_COLUMNS, [_task_row(t) for t in tasks.data], empty="no tasks")
    if page is not None and tasks.total is not None:
        output.info(f"page {page}: {len(tasks.data)} of {tasks.total} tasks")


def _runs_table(runs: list[dict[str, Any]]) -> None:
    output.print_table(
        ["run", "organization", "status", "started", "finished"],
        [
            [
                r.get("id"),
                related_id(r.get("organization")),
                r.get("status"),
                (r.get("started_at") or "")[:19],
                (r.get("finished_at") or "")[:19],
            ]
            for r in runs
        ],
        title="runs",
        empty="no runs",
    )


@task.command("get")
@login_options
@click.argument("task_id", type=int)
@output.json_option
def task_get(
    login: Login,
    task_id: int,
    as_json: bool,
) -> None:
    """Show one task and its runs."""
    with login.client() as client:
        found = client.task.get(task_id)
        runs = client.run.from_task(task_id, decrypt_input=False).data
    if as_json:
        output.print_json({**found, "runs": runs})
        return
    shown = {
        k: found.get(k)
        for k in ("id", "name", "description", "image", "status", "created_at", "job_id")
    }
    shown["collaboration"] = related_id(found.get("collaboration"))
    shown["initiated by"] = related_id(found.get("init_user"))
    shown["databases"] = [d.get("label") for d in found.get("databases") or []]
    output.print_mapping(shown, title=f"task {task_id}")
    _runs_table(runs)


def _wait_and_report(
    client: Any, task_id: int, timeout: float | None, as_json: bool, show_results: bool
) -> int:
    from rich.status import Status

    started = time.monotonic()
    console = output.err()
    spinner: Status | None = None
    if console.is_terminal:
        spinner = console.status(f"task {task_id}: waiting ...")
        spinner.start()

    def update(status: str) -> None:
        runs = client.run.from_task(task_id, decrypt_input=False).data
        done = sum(1 for r in runs if r.get("status") not in ("pending", "initializing", "active"))
        text = f"task {task_id}: {status}, {done}/{len(runs)} runs done, "
        text += f"{time.monotonic() - started:.1f} s"
        if spinner is not None:
            spinner.update(text)
        else:
            output.info(text)

    try:
        status = client.wait_for_task(task_id, timeout=timeout, on_update=update)
    except KeyboardInterrupt:
        if spinner is not None:
            spinner.stop()
        raise CliError(
            f"stopped waiting; task {task_id} goes on at the nodes",
            INTERRUPTED,
            hint=f"wait for it again with: v6 task wait {task_id} --results "
            f"(or stop it: v6 task kill {task_id})",
        ) from None
    except WaitTimeoutError as exc:
        if spinner is not None:
            spinner.stop()
        if as_json:
            output.print_json({"id": task_id, "status": exc.status, "timed_out": True})
        output.error(
            f"task {task_id} still {exc.status} after {timeout:g} s; it goes on at the nodes",
            f"wait again with: v6 task wait {task_id} --results",
        )
        return TIMEOUT
    finally:
        if spinner is not None:
            spinner.stop()
    elapsed = time.monotonic() - started
    runs = client.run.from_task(task_id, decrypt_input=False).data
    results = _results(client, task_id, runs) if show_results else None
    if as_json:
        data: dict[str, Any] = {"id": task_id, "status": status, "seconds": round(elapsed, 3)}
        data["runs"] = [
            {
                "id": r["id"],
                "organization": related_id(r.get("organization")),
                "status": r["status"],
            }
            for r in runs
        ]
        if results is not None:
            data["results"] = results
        output.print_json(data)
    else:
        if status == "completed":
            output.success(f"task {task_id} completed in {elapsed:.1f} s")
        else:
            output.error(f"task {task_id} ended with status '{status}'")
        _runs_table(runs)
        if results is not None:
            _print_results(results)
    return OK if status == "completed" else TASK_FAILED


def _results(client: Any, task_id: int, runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    by_run = {r["id"]: r for r in runs}
    out = []
    for item in client.result.from_task(task_id).data:
        run = by_run.get(item["id"], {})
        out.append(
            {
                "run": item["id"],
                "organization": related_id(run.get("organization")),
                "status": run.get("status"),
                "result": item.get("result"),
                "log": run.get("log") if run.get("status") != "completed" else None,
            }
        )
    return out


def _print_results(results: list[dict[str, Any]]) -> None:
    from rich.syntax import Syntax

    console = output.out()
    for item in results:
        console.rule(f"run {item['run']} (organization {item['organization']})")
        if item.get("result") is None:
            console.print("no result" + (f"; log:\n{item['log']}" if item.get("log") else ""))
            continue
        text = json.dumps(item["result"], indent=2, default=str)
        console.print(Syntax(text, "json", theme="ansi_dark", background_color="default"))


@task.command("wait", short_help="Wait for a task to finish.")
@login_options
@click.argument("task_id", type=int)
@click.option("--timeout", type=float, help="Give up after this many seconds (exit code 9).")
@click.option(
    "--results/--no-results", default=False, show_default=True, help="Also print the results."
)
@output.json_option
def task_wait(
    login: Login,
    task_id: int,
    timeout: float | None,
    results: bool,
    as_json: bool,
) -> None:
    """Wait until a task has finished (exit code 0 if completed, 8 if not)."""
    with login.client() as client:
        code = _wait_and_report(client, task_id, timeout, as_json, show_results=results)
    raise SystemExit(code)


@task.command("result", short_help="Print a task's (decrypted) results.")
@login_options
@click.argument("task_id", type=int)
@output.json_option
def task_result(
    login: Login,
    task_id: int,
    as_json: bool,
) -> None:
    """Print the (decrypted) results of a task's runs."""
    with login.client() as client:
        runs = client.run.from_task(task_id, decrypt_input=False).data
        results = _results(client, task_id, runs)
    if as_json:
        output.print_json(results)
    else:
        _print_results(results)
    if any(r.get("status") not in ("completed",) for r in results):
        raise SystemExit(TASK_FAILED)


@task.command("kill", short_help="Stop a task's runs.")
@login_options
@click.argument("task_id", type=int)
@output.json_option
def task_kill(
    login: Login,
    task_id: int,
    as_json: bool,
) -> None:
    """Stop a task's runs on the nodes (the task stays, with status 'killed by user')."""
    with login.client() as client:
        answer = client.task.kill(task_id)
        status = client.task.status(task_id)
    if as_json:
        output.print_json({"id": task_id, "status": status, "server": answer})
    else:
        output.success(f"task {task_id} killed (status: {status})")
