"""``v6 sandbox``: a whole federation on this machine, for trying things out.

``up`` writes the configuration of a server and N nodes (each with a demo dataset), builds
the demo algorithm image if it is missing, starts everything, runs a demo analysis and
prints its result and the login to use. ``status`` shows what runs, ``down`` stops it all
(``--purge`` also deletes its files). A sandbox is kept apart from your own servers and
nodes: its files live in ``<config>/sandbox/NAME/`` and ``<data>/sandbox/NAME/``.
"""

from __future__ import annotations

import json
import math
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from vantage6_cli import configs, output, process
from vantage6_cli.errors import NO_RUNTIME, STATE, TASK_FAILED, TIMEOUT, CliError
from vantage6_cli.instances import Instance, config_root, data_root, in_folder
from vantage6_cli.lifecycle import (
    port_free,
    remove_labelled_containers,
    start_instance,
    stop_instance,
)
from vantage6_cli.runtimes import (
    DEFAULT_HELP,
    default_runtime,
    local_digest,
    open_runtime,
    runtime_names,
)
from vantage6_node.installation import read_instance_id

if TYPE_CHECKING:
    from vantage6_node.runtime import ContainerRuntime

DEMO_IMAGE = "localhost/v6-demo:latest"
DEMO_COLUMNS = ["age", "bmi", "systolic_bp"]
RESEARCHER = "researcher"


@click.group("sandbox", short_help="A server and nodes with demo data, on this machine.")
def sandbox() -> None:
    """A complete federation on this machine: a server and nodes with demo data."""


# -- places ----------------------------------------------------------------------------------
class Sandbox:
    def __init__(self, name: str) -> None:
        from vantage6_cli.instances import check_name

        self.name = check_name(name)
        self.config_dir = config_root(False) / "sandbox" / name
        self.data_dir = data_root(False) / "sandbox" / name

    @property
    def state_file(self) -> Path:
        return self.data_dir / "sandbox.json"

    def load(self) -> dict[str, Any] | None:
        try:
            return json.loads(self.state_file.read_text())
        except (OSError, ValueError):
            return None

    def save(self, state: dict[str, Any]) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        configs.write_secret(self.state_file, json.dumps(state, indent=2))

    def server(self) -> Instance:
        return in_folder("server", "server", self.config_dir, self.data_dir, "sandbox")

    def node(self, index: int) -> Instance:
        return in_folder("node", f"node{index}", self.config_dir, self.data_dir, "sandbox")

    def store(self) -> Instance:
        from vantage6_cli.sandboxstore import store_instance

        return store_instance(self.config_dir, self.data_dir)

    def nodes(self, state: dict[str, Any] | None) -> list[Instance]:
        count = len((state or {}).get("nodes", []))
        if not count:
            count = len(list(self.config_dir.glob("node*.yaml")))
        return [self.node(i) for i in range(1, count + 1)]


# -- container runtime -------------------------------------------------------------------------
#: the project's image build tool, in a source checkout (it is not part of the packages)
BUILD_TOOL = Path(__file__).resolve().parents[1] / "containers" / "images.py"
BUILD_COMMAND = "python -m containers.images build --only demo"


def check_runtime(engine: str) -> None:
    open_runtime(engine).close()


def image_exists(engine: str, image: str) -> bool:
    runtime = open_runtime(engine)
    try:
        return runtime.image_exists(image)
    finally:
        runtime.close()


def pinned_image(engine: str, image: str) -> str:
    """``image`` pinned to its digest in ``engine``'s image store (the sandbox's images are
    built locally and never pushed, so no registry knows them; the store records this digest
    and the nodes, which trust only the store, run exactly it)."""
    digest = local_digest(image, [engine])
    if digest is None:
        raise CliError(f"{engine} knows no digest of {image}", STATE)
    return f"{image}@{digest}"


def build_demo_image() -> None:
    """Build the demo image with the source checkout's build tool."""
    if not BUILD_TOOL.is_file():
        raise CliError(
            f"the demo image {DEMO_IMAGE} is missing",
            NO_RUNTIME,
            hint=f"build it in a source checkout of this project: {BUILD_COMMAND}",
        )
    output.info(f"building the demo algorithm image ({BUILD_COMMAND}) ...")
    built = subprocess.run(
        [sys.executable, "-m", "containers.images", "build", "--only", "demo"],
        cwd=BUILD_TOOL.parents[1],
        stdout=sys.stderr,
        stderr=sys.stderr,
    )
    if built.returncode != 0:
        raise CliError(
            "the demo image could not be built (see above)",
            NO_RUNTIME,
            hint=f"build it by hand: {BUILD_COMMAND}",
        )


def copy_image(image: str, target: ContainerRuntime, target_name: str) -> bool:
    """Copy ``image`` into ``target`` from another registered runtime that has it."""
    from vantage6_node.runtime import ContainerRuntimeError

    mover = target.image_transfer()
    if mover is None:
        return False
    for name in runtime_names():
        if name == target_name:
            continue
        try:
            source = open_runtime(name)
        except CliError:
            continue
        try:
            sender = source.image_transfer()
            if sender is None or not source.image_exists(image):
                continue
            output.info(f"copying {image} from {name} to {target_name} ...")
            with tempfile.TemporaryDirectory(prefix="v6-image-") as folder:
                archive = Path(folder) / "image.tar"
                try:
                    sender.save(image, archive)
                    mover.load(archive)
                except ContainerRuntimeError as exc:
                    raise CliError(f"copying {image} failed: {exc}", NO_RUNTIME) from None
            return True
        finally:
            source.close()
    return False


def ensure_demo_image(engine: str) -> None:
    """Build the demo image (and the base image it needs) when missing, and copy them into
    ``engine`` when they were built into another runtime's images."""
    needed = [DEMO_IMAGE, "localhost/v6-base:latest"]
    runtime = open_runtime(engine)
    try:
        missing = [image for image in needed if not runtime.image_exists(image)]
        if not missing:
            return
        build_demo_image()
        for image in missing:
            if not runtime.image_exists(image) and not copy_image(image, runtime, engine):
                raise CliError(
                    f"{image} was built but {engine} cannot see it",
                    NO_RUNTIME,
                    hint=f"load it into {engine} yourself, or use another --runtime",
                )
    finally:
        runtime.close()


# -- demo data -------------------------------------------------------------------------------
def demo_rows(seed: int, count: int) -> list[dict[str, Any]]:
    """Synthetic patients: age, bmi, systolic blood pressure, smoker."""
    rng = random.Random(seed)
    rows = []
    for i in range(count):
        age = max(18, min(95, round(rng.gauss(52 + seed, 14))))
        bmi = round(max(15.0, rng.gauss(26.5, 4.2)), 1)
        bp = round(max(85.0, 95 + 0.6 * age + 0.8 * (bmi - 25) + rng.gauss(0, 11)), 1)
        rows.append(
            {
                "id": i + 1,
                "age": age,
                "bmi": bmi,
                "systolic_bp": bp,
                "smoker": int(rng.random() < 0.22),
            }
        )
    return rows


def write_demo_csv(path: Path, seed: int, count: int) -> None:
    import csv

    rows = demo_rows(seed, count)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as fp:
        writer = csv.DictWriter(fp, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def pick_port(preferred: int) -> int:
    for port in range(preferred, preferred + 200):
        if port_free("127.0.0.1", port):
            return port
    raise CliError(f"no free port from {preferred} on", STATE)


# -- up --------------------------------------------------------------------------------------
def _login(api_url: str, username: str, password: str) -> Any:
    from vantage6_client import Client

    client = Client(api_url)
    client.authenticate(username, password)
    return client


def _wait_nodes_online(box: Sandbox, root: Any, state: dict[str, Any], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    wanted = {n["id"] for n in state["nodes"]}
    while True:
        online = {
            n["id"]
            for n in root.node.list(collaboration=state["collaboration_id"]).data
            if n.get("status") == "online"
        }
        if wanted <= online:
            return
        for index, node in enumerate(box.nodes(state), start=1):
            if not process.state(node).running:
                raise CliError(
                    f"sandbox node{index} stopped; last lines of {node.log_file}:\n"
                    + process.tail_text(node.log_file),
                    STATE,
                )
        if time.monotonic() > deadline:
            raise CliError(
                f"not all nodes came online within {timeout:g} s "
                f"(online: {sorted(online)}, expected: {sorted(wanted)})",
                TIMEOUT,
                hint=f"see the logs in {box.data_dir}/node*/node.log",
            )
        time.sleep(0.3)


def _create_federation(
    box: Sandbox,
    root: Any,
    nodes: int,
    encrypted: bool,
    port: int,
    engine: str,
    store_url: str,
) -> dict[str, Any]:
    from vantage6_cli.server import generate_password

    suffix = box.name
    org_ids = []
    for i in range(1, nodes + 1):
        org = root.organization.create(
            name=f"{suffix} organization {i}", country="Sandboxland", domain=f"org{i}.sandbox"
        )
        org_ids.append(org["id"])
    # only our software takes part in a sandbox: its encrypted collaboration requires the
    # authenticated format
    collab = root.collaboration.create(
        f"{suffix} collaboration",
        org_ids,
        encrypted=encrypted,
        encryption_scheme="authenticated" if encrypted else None,
    )
    researcher_role = root.role.list(name="Researcher", include_root=True).data[0]
    password = generate_password()
    root.user.create(
        username=RESEARCHER,
        firstname="Sandbox",
        lastname="Researcher",
        password=password,
        email=f"{RESEARCHER}@org1.sandbox",
        organization=org_ids[0],
        roles=[researcher_role["id"]],
    )
    node_records = []
    for i, org_id in enumerate(org_ids, start=1):
        created = root.node.create(
            collaboration=collab["id"], organization=org_id, name=f"{suffix} node {i}"
        )
        instance = box.node(i)
        data_csv = instance.data_dir / "data.csv"
        write_demo_csv(data_csv, seed=i, count=60 + 25 * i)
        config: dict[str, Any] = {
            "api_key": created["api_key"],
            "server_url": "http://127.0.0.1",
            "port": port,
            "api_path": "/api",
            "name": f"{suffix} node {i}",
            "task_dir": str(instance.data_dir / "tasks"),
            "databases": [{"label": "default", "uri": str(data_csv), "type": "csv"}],
            "runtime": engine,
            # the nodes run only what the sandbox's store approved
            "policies": {"require_algorithm_pull": False, "allowed_algorithm_stores": [store_url]},
        }
        if encrypted:
            from vantage6_common import crypto

            key_file = instance.data_dir / "private_key.pem"
            if not key_file.exists():
                output.info(f"  generating the private key of organization {i} ...")
                crypto.save_private_key(crypto.generate_private_key(), key_file)
            config["encryption"] = {"enabled": True, "private_key": str(key_file)}
        configs.write_yaml(instance.config_file, config, private=True)
        node_records.append({"name": instance.name, "id": created["id"], "organization": org_id})
    return {
        "name": box.name,
        "port": port,
        "api_url": f"http://127.0.0.1:{port}/api",
        "runtime": engine,
        "encrypted": encrypted,
        "collaboration_id": collab["id"],
        "organizations": org_ids,
        "nodes": node_records,
        "researcher": {"username": RESEARCHER, "password": password},
    }


def run_demo(state: dict[str, Any], box: Sandbox, timeout: float) -> dict[str, Any]:
    """The demo analysis: pooled summary statistics over every node's data."""
    client = _login(state["api_url"], RESEARCHER, state["researcher"]["password"])
    try:
        if state.get("encrypted"):
            client.setup_encryption(box.node(1).data_dir / "private_key.pem")
        started = time.monotonic()
        image, store_id = DEMO_IMAGE, None
        if state.get("store"):
            from vantage6_cli.sandboxstore import DEMO_ALGORITHM_NAME
            from vantage6_cli.storetask import find_algorithm

            found = find_algorithm(client, state["collaboration_id"], DEMO_ALGORITHM_NAME)
            image, store_id = found.image, found.store_id
        created = client.task.create(
            collaboration=state["collaboration_id"],
            organizations=[state["organizations"][0]],
            name="sandbox demo: summary",
            image=image,
            store=store_id,
            description="pooled summary statistics of the demo data",
            input_={"method": "summary", "kwargs": {"columns": DEMO_COLUMNS}},
            databases=[{"label": "default"}],
        )
        results = client.wait_for_results(created["id"], timeout=timeout)
        status = client.task.status(created["id"])
        seconds = time.monotonic() - started
        runs = client.run.from_task(created["id"], decrypt_input=False).data
    finally:
        client.close()
    log = next((r.get("log") for r in runs if r.get("status") != "completed"), None)
    return {
        "task_id": created["id"],
        "status": status,
        "seconds": round(seconds, 2),
        "result": results.data[0]["result"] if results.data else None,
        "log": log,
    }


def login_lines(state: dict[str, Any], box: Sandbox) -> list[str]:
    lines = [
        f"export V6_SERVER_URL={state['api_url']}",
        f"export V6_USERNAME={state['researcher']['username']}",
        f"export V6_PASSWORD='{state['researcher']['password']}'",
    ]
    if state.get("encrypted"):
        lines.append(f"export V6_PRIVATE_KEY={box.node(1).data_dir / 'private_key.pem'}")
    return lines


def existing() -> list[str]:
    """Names of the sandboxes on this machine."""
    folder = config_root(False) / "sandbox"
    found = set()
    for root in (folder, data_root(False) / "sandbox"):
        if root.is_dir():
            found |= {p.name for p in root.iterdir() if p.is_dir()}
    return sorted(found)


def pick(name: str | None) -> str:
    """The sandbox a command is about: NAME, else the only one, else 'sandbox'."""
    if name is not None:
        return name
    found = existing()
    if len(found) == 1:
        return found[0]
    return "sandbox"


@sandbox.command("up", short_help="Create and start the sandbox, run a demo analysis.")
@click.option(
    "--name",
    "-n",
    default="sandbox",
    show_default=True,
    help="Name of the sandbox.",
)
@click.option(
    "--nodes",
    type=click.IntRange(1, 10),
    default=None,
    help="Number of nodes.  [default: 3; an existing sandbox keeps its own]",
)
@click.option(
    "--runtime",
    type=click.Choice(runtime_names()),
    default=None,
    help=f"Container runtime of the nodes.  [default: {DEFAULT_HELP}; an existing sandbox "
    "keeps its own]",
)
@click.option(
    "--port",
    type=int,
    default=7601,
    show_default=True,
    help="Server port (the next free one if taken).",
)
@click.option(
    "--encrypted/--no-encrypted",
    default=None,
    help="Make the collaboration end-to-end encrypted.  [default: no; an existing sandbox keeps "
    "its own]",
)
@click.option("--demo/--no-demo", default=True, show_default=True, help="Run the demo analysis.")
@click.option(
    "--timeout", type=float, default=300.0, show_default=True, help="Seconds to wait for each step."
)
@output.json_option
def sandbox_up(
    name: str,
    nodes: int | None,
    runtime: str | None,
    port: int,
    encrypted: bool | None,
    demo: bool,
    timeout: float,
    as_json: bool,
) -> None:
    """Create (first time) and start the sandbox, then run a demo analysis.

    An existing sandbox is started as it was made: --nodes, --runtime and --encrypted need
    not be given again (given differently, they are refused).
    """
    box = Sandbox(name)
    state = box.load()
    if state is not None:
        had = {
            "--nodes": len(state.get("nodes", [])),
            "--runtime": state.get("runtime") or default_runtime(),
            "--encrypted": bool(state.get("encrypted", False)),
        }
        asked = {"--nodes": nodes, "--runtime": runtime, "--encrypted": encrypted}
        differ = [f"{k} {v}" for k, v in asked.items() if v is not None and v != had[k]]
        if differ:
            made = ", ".join(f"{k} {v}" for k, v in had.items())
            raise CliError(
                f"sandbox '{name}' exists ({made}) and cannot change to {', '.join(differ)}",
                STATE,
                hint=f"start it as it is: v6 sandbox up --name {name}; or make it anew: "
                f"v6 sandbox down --purge --name {name}",
            )
        nodes, runtime, encrypted = had["--nodes"], had["--runtime"], had["--encrypted"]
    nodes = 3 if nodes is None else nodes
    runtime = runtime or default_runtime()
    if runtime is None:
        raise CliError("no container runtime is installed", NO_RUNTIME)
    encrypted = bool(encrypted)
    check_runtime(runtime)
    ensure_demo_image(runtime)

    server = box.server()
    if state is None:
        port = pick_port(port)
        from vantage6_cli.server import generate_password

        server.data_dir.mkdir(parents=True, exist_ok=True)
        configs.write_yaml(
            server.config_file,
            {
                "host": "127.0.0.1",
                "port": port,
                "api_path": "/api",
                "database_uri": f"sqlite:///{server.data_dir / 'server.sqlite'}",
                "server_name": f"vantage6 {name}",
                **({} if encrypted else _blob_store(server)),
            },
        )
        configs.write_secret(server.root_password_file, generate_password())
    if not process.state(server).running:
        output.info("starting the server ...")
        facts = start_instance(server, timeout)
        output.info(f"  server at {facts['api_url']} (pid {facts['pid']})")
    settings = configs.validate_server(server)
    api_url = configs.server_api_url(settings)
    store = box.store()
    if state is None:
        from vantage6_cli.sandboxstore import write_store_config

        store_url = write_store_config(store, pick_port(settings.port + 1), api_url)
    else:
        store_url = (state.get("store") or {}).get("url")
    if store_url and not process.state(store).running:
        output.info("starting the algorithm store ...")
        facts = start_instance(store, timeout)
        output.info(f"  store at {facts['api_url']} (pid {facts['pid']})")
    root = _login(api_url, "root", server.root_password_file.read_text().strip())
    try:
        if state is None:
            output.info(f"creating {nodes} organizations, a collaboration, nodes and a user ...")
            state = _create_federation(
                box, root, nodes, encrypted, settings.port, runtime, str(store_url)
            )
            box.save(state)
        if store_url and not state.get("store"):
            output.info("submitting the demo algorithm to the store and approving it ...")
            pinned = pinned_image(str(state.get("runtime") or runtime), DEMO_IMAGE)
            state["store"] = _publish_demo(state, root, str(store_url), pinned)
            box.save(state)
        for index, node in enumerate(box.nodes(state), start=1):
            if not process.state(node).running:
                output.info(f"starting node{index} ...")
                start_instance(node, timeout)
        output.info("waiting for the nodes to come online ...")
        _wait_nodes_online(box, root, state, timeout)
    finally:
        root.close()

    report: dict[str, Any] = {
        "name": name,
        "api_url": state["api_url"],
        "username": state["researcher"]["username"],
        "password": state["researcher"]["password"],
        "collaboration_id": state["collaboration_id"],
        "organizations": state["organizations"],
        "nodes": state["nodes"],
        "encrypted": state.get("encrypted", False),
    }
    if state.get("encrypted"):
        report["private_key"] = str(box.node(1).data_dir / "private_key.pem")
    if state.get("store"):
        report["store"] = state["store"]
    code = 0
    if demo:
        output.info("running the demo analysis (v6demo summary) ...")
        demo_report = run_demo(state, box, timeout)
        report["demo"] = demo_report
        if demo_report["status"] != "completed":
            code = TASK_FAILED
    if as_json:
        output.print_json(report)
    else:
        _print_up(report, state, box)
    if code:
        output.error(f"the demo task ended with status '{report['demo']['status']}'")
        raise SystemExit(code)


def _blob_store(server: Instance) -> dict[str, Any]:
    """Large inputs and results as blobs in a folder of the sandbox. Not for an encrypted
    sandbox: its collaboration requires the authenticated format, which blobs (in vantage6's
    format) do not have, so there they stay in the database."""
    return {"large_result_store": {"type": "filesystem", "path": str(server.data_dir / "blobs")}}


def _publish_demo(state: dict[str, Any], root: Any, store_url: str, image: str) -> dict[str, Any]:
    from vantage6_cli.sandboxstore import publish_demo

    researcher = _login(state["api_url"], RESEARCHER, state["researcher"]["password"])
    try:
        return publish_demo(
            store_url, root, researcher, RESEARCHER, state["collaboration_id"], image
        )
    finally:
        researcher.close()


def _print_up(report: dict[str, Any], state: dict[str, Any], box: Sandbox) -> None:
    store = ", a store" if state.get("store") else ""
    output.success(f"sandbox '{box.name}' is up: a server{store} and {len(state['nodes'])} nodes")
    demo = report.get("demo")
    if demo and isinstance(demo.get("result"), dict):
        rows = []
        for column, stats in demo["result"].items():
            rows.append(
                [column] + [_fmt(stats.get(k)) for k in ("count", "mean", "std", "min", "max")]
            )
        output.print_table(
            ["column", "count", "mean", "std", "min", "max"],
            rows,
            title=f"demo analysis: pooled summary over {len(state['nodes'])} nodes "
            f"(task {demo['task_id']}, {demo['seconds']} s)",
        )
    elif demo:
        output.warn(f"demo task {demo['task_id']}: {demo['status']}; {demo.get('log') or ''}")
    output.info("log in as the sandbox researcher (copy these lines into your shell):")
    for line in login_lines(state, box):
        output.out().print(line, markup=False, highlight=False)
    if state.get("store"):
        output.info(f"the nodes run the algorithms its store approved ({state['store']['url']})")
        output.info(
            "then e.g.: v6 task create --algorithm v6demo --function summary "
            "--arg columns=age,bmi --wait"
        )
    else:
        output.info(
            f"then e.g.: v6 task create --collaboration {state['collaboration_id']} "
            f"--image {DEMO_IMAGE} --method summary --database default --wait"
        )
    output.info(f"stop it with: v6 sandbox down{_name_flag(box)}")


def _name_flag(box: Sandbox) -> str:
    return "" if box.name == "sandbox" else f" --name {box.name}"


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        return f"{value:.3f}"
    return "" if value is None else str(value)


# -- status ----------------------------------------------------------------------------------
def _overview(names: list[str], as_json: bool) -> None:
    rows = []
    for found in names:
        box = Sandbox(found)
        state = box.load() or {}
        node_list = box.nodes(state or None)
        rows.append(
            {
                "name": found,
                "server": process.state(box.server()).label,
                "nodes running": sum(1 for n in node_list if process.state(n).running),
                "nodes": len(node_list),
                "api_url": state.get("api_url"),
            }
        )
    if as_json:
        output.print_json({"sandboxes": rows})
        return
    output.print_table(
        ["name", "server", "nodes running", "api url"],
        [
            [r["name"], r["server"], f"{r['nodes running']}/{r['nodes']}", r["api_url"]]
            for r in rows
        ],
        title="sandboxes",
        empty="there is no sandbox yet (create one with: v6 sandbox up)",
    )
    if rows:
        output.info("details: v6 sandbox status --name NAME")


@sandbox.command("status")
@click.option(
    "--name",
    "-n",
    default=None,
    help="Name of the sandbox.  [default: the only one; with several, they are listed]",
)
@output.json_option
def sandbox_status(name: str | None, as_json: bool) -> None:
    """Show whether the sandbox's server and nodes run (and are online); without --name and
    with several sandboxes (or none), list them."""
    if name is None:
        found = existing()
        if len(found) != 1:
            _overview(found, as_json)
            return
        name = found[0]
    box = Sandbox(name)
    state = box.load()
    if state is None and not box.config_dir.exists():
        if as_json:
            output.print_json({"name": name, "exists": False})
            return
        raise CliError(f"there is no sandbox '{name}'", 4, hint="create it: v6 sandbox up")
    server = box.server()
    server_state = process.state(server)
    online: dict[int, str] = {}
    if server_state.running and state is not None:
        try:
            root = _login(state["api_url"], "root", server.root_password_file.read_text().strip())
            try:
                for n in root.node.list(collaboration=state["collaboration_id"]).data:
                    online[n["id"]] = n.get("status")
            finally:
                root.close()
        except Exception:  # noqa: BLE001 - status is best effort
            pass
    rows = [
        {
            "name": "server",
            "status": server_state.label,
            "pid": server_state.pid if server_state.running else None,
            "detail": (state or {}).get("api_url"),
        }
    ]
    if box.store().config_file.is_file():
        store_state = process.state(box.store())
        rows.append(
            {
                "name": "store",
                "status": store_state.label,
                "pid": store_state.pid if store_state.running else None,
                "detail": ((state or {}).get("store") or {}).get("url", ""),
            }
        )
    records = {n["name"]: n for n in (state or {}).get("nodes", [])}
    for node in box.nodes(state):
        st = process.state(node)
        record = records.get(node.name, {})
        rows.append(
            {
                "name": node.name,
                "status": st.label,
                "pid": st.pid if st.running else None,
                "detail": online.get(record.get("id"), "") if record else "",
            }
        )
    if as_json:
        output.print_json(
            {
                "name": name,
                "exists": True,
                "api_url": (state or {}).get("api_url"),
                "username": (state or {}).get("researcher", {}).get("username"),
                "processes": rows,
            }
        )
        return
    output.print_table(
        ["part", "status", "pid", "detail"],
        [[r["name"], r["status"], r["pid"], r["detail"]] for r in rows],
        title=f"sandbox '{name}'",
    )
    if state is not None:
        output.info(f"login: {state['researcher']['username']} at {state['api_url']}")


# -- down ------------------------------------------------------------------------------------
@sandbox.command("down")
@click.option(
    "--name",
    "-n",
    default=None,
    help="Name of the sandbox.  [default: the only one, else 'sandbox']",
)
@click.option("--purge", is_flag=True, help="Also delete its configuration and data.")
@click.option(
    "--timeout",
    type=float,
    default=30.0,
    show_default=True,
    help="Seconds per process before it is killed.",
)
@output.json_option
def sandbox_down(name: str | None, purge: bool, timeout: float, as_json: bool) -> None:
    """Stop the sandbox's nodes (and their containers) and server."""
    name = pick(name)
    box = Sandbox(name)
    state = box.load()
    if state is None and not box.config_dir.exists() and not box.data_dir.exists():
        if as_json:
            output.print_json({"name": name, "stopped": [], "purged": False})
            return
        output.info(f"there is no sandbox '{name}'")
        return
    stopped = []
    engine = (state or {}).get("runtime") or default_runtime() or ""
    for node in box.nodes(state):
        ident = _node_instance_id(node)
        before = stop_instance(node, timeout)
        if before.running:
            stopped.append(node.name)
        if ident is not None:
            remove_labelled_containers(engine, {}, ident)
    if process.stop(box.store(), timeout).running:
        stopped.append("store")
    server = box.server()
    if process.stop(server, timeout).running:
        stopped.append("server")
    if purge:
        for folder in (box.config_dir, box.data_dir):
            if folder.exists():
                shutil.rmtree(folder)
    if as_json:
        output.print_json({"name": name, "stopped": stopped, "purged": purge})
        return
    output.success(
        f"sandbox '{name}' stopped"
        + (" and deleted" if purge else "")
        + (f" ({', '.join(stopped)})" if stopped else " (nothing was running)")
    )


def _node_instance_id(node: Instance) -> str | None:
    try:
        config = configs.read_yaml(node.config_file)
    except CliError:
        return None
    return read_instance_id(Path(config.get("task_dir") or node.data_dir / "tasks"))
