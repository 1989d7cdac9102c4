"""Published vantage6 advisories, each replayed against a real server (and a real node).

One test per advisory that no other security module covers; ``docs/design/security.md`` maps
every advisory to its test. Each docstring says what a vulnerable server or node would do, so
that the assertion that catches it is clear.
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
import secrets
import tempfile
import threading
import time
from pathlib import Path

import httpx
import pytest
import yaml
from aiosmtpd.controller import Controller
from sqlalchemy import create_engine, text

from tests.api import Api
from tests.livestack import LiveServer, free_port, start_server
from tests.node.conftest import make_datasets, podman_images, test_image  # noqa: F401 - fixtures
from tests.node.harness import BASE_IMAGE, DEMO_IMAGE, Federation, podman

PASSWORD = "Advisory-Pass-1!"


def _engine(server: LiveServer):
    """The server's own database (what someone who breached the server controls)."""
    uri = server.database_uri
    if uri.startswith("postgresql://"):
        uri = "postgresql+psycopg://" + uri.removeprefix("postgresql://")
    return create_engine(uri)


# --------------------------------------------------------------------------- SMTP that waits


class HeldSmtp:
    """A real SMTP server on loopback that holds each message until ``release()``.

    While held, the sender waits for the answer to DATA (smtplib: up to its 10 s timeout).
    """

    def __init__(self) -> None:
        self.port = free_port()
        self.messages: list[str] = []
        self.holding = threading.Event()
        self.released = threading.Event()
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port)

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd API
        self.holding.set()
        deadline = time.monotonic() + 60
        while not self.released.is_set() and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        self.messages.append(envelope.content.decode("utf-8", "replace"))
        return "250 OK"

    def hold(self) -> None:
        self.holding.clear()
        self.released.clear()

    def wait_for(self, needle: str, timeout: float = 30) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for message in self.messages:
                if needle in message:
                    return message
            time.sleep(0.05)
        raise AssertionError(f"no mail containing {needle!r} within {timeout}s")


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def stack(request):
    """A server whose SMTP server is a ``HeldSmtp``, and a user with a known e-mail address."""
    smtp = HeldSmtp()
    smtp.controller.start()
    config = Path(tempfile.mkdtemp()) / "server.yaml"
    config.write_text(yaml.safe_dump({"smtp": {"host": "127.0.0.1", "port": smtp.port}}))
    server, cleanup = start_server(request.param, config_file=config)
    root = Api.as_user(server.api_url, server.root_username, server.root_password)
    org = root.ok("GET", "/organization", params={"name": "root"})["data"][0]["id"]
    root.ok(
        "POST",
        "/user",
        json={
            "username": "existing",
            "email": "existing@example.org",
            "password": PASSWORD,
            "organization_id": org,
        },
    )
    yield server, smtp
    smtp.released.set()
    cleanup()
    smtp.controller.stop()


@pytest.mark.parametrize(
    "route, body",
    [
        ("/recover/lost", {"email": "existing@example.org"}),
        ("/recover/lost", {"username": "existing"}),
        ("/recover/2fa/lost", {"username": "existing"}),
    ],
)
def test_ghsa_5h3x_recovery_answer_does_not_reveal_the_account(stack, route, body):
    """GHSA-5h3x-6gwf-73jm (CVE-2024-24770): ``/recover/lost`` and ``/recover/2fa/lost``
    told existing accounts apart by their answer and by its time (the mail was sent first).

    The SMTP server holds the mail. A vulnerable server answers for an existing account only
    once SMTP answers or smtplib gives up after 10 s, so the 8 s client timeout below fails
    the test; for an unknown account it answers at once. Ours answers both at once, alike,
    and sends the mail afterwards.
    """
    server, smtp = stack
    smtp.hold()
    unknown_body = {key: f"nobody-{value}" for key, value in body.items()}
    try:
        unknown = httpx.post(server.api_url + route, json=unknown_body, timeout=30)
        try:
            known = httpx.post(server.api_url + route, json=body, timeout=8)
        except httpx.TimeoutException:
            pytest.fail("the answer waited for the mail: it tells that the account exists")
        # the mail job did reach the held SMTP server: a vulnerable server would have waited
        assert smtp.holding.wait(30), "no mail reached the SMTP server"
    finally:
        smtp.released.set()
    assert unknown.status_code == known.status_code == 200, (unknown.text, known.text)
    assert unknown.json() == known.json()
    mail = smtp.wait_for("existing@example.org")
    assert re.search(r"^[A-Za-z0-9_-]{30,}\s*$", mail, re.M), "the mail carries a token"


# --------------------------------------------------------------------------- task includes


def _b64(payload: dict) -> str:
    return base64.b64encode(json.dumps(payload).encode()).decode()


def test_cve_2023_41882_task_includes_respect_the_run_rule(stack):
    """CVE-2023-41882 (fixed in vantage6 4.0): a user allowed to view tasks but not their runs
    read the results anyway through ``/task?include=results`` (and, in 3.x, through
    ``/collaboration/<id>/task``).

    A member of the collaboration gets a role with only the task view rule. A vulnerable
    server puts the result and the input in ``include=results`` / ``include=runs``; ours
    leaves out the runs this user may not view.
    """
    server, _ = stack
    root = Api.as_user(server.api_url, server.root_username, server.root_password)
    tag = secrets.token_hex(3)
    org = root.ok("POST", "/organization", json={"name": f"inc-{tag}"})["id"]
    root_org = root.ok("POST", "/token/user/validate")["organization_id"]
    collab = root.ok(
        "POST",
        "/collaboration",
        # root's organization takes part: only members create tasks
        json={"name": f"inc-{tag}", "organization_ids": [org, root_org], "encrypted": False},
    )["id"]
    node = root.ok("POST", "/node", json={"collaboration_id": collab, "organization_id": org})
    secret_input, secret_result = _b64({"input": "IN-" + tag}), _b64({"result": "OUT-" + tag})
    task = root.ok(
        "POST",
        "/task",
        json={
            "image": "img:1",
            "collaboration_id": collab,
            "organizations": [{"id": org, "input": secret_input}],
        },
    )
    (run,) = root.ok("GET", "/run", params={"task_id": task["id"]})["data"]
    Api.as_node(server.api_url, node["api_key"]).ok(
        "PATCH", f"/run/{run['id']}", json={"status": "completed", "result": secret_result}
    )
    (rule,) = root.ok("GET", "/rule", params={"name": "task", "scope": "col", "operation": "v"})[
        "data"
    ]
    role = root.ok(
        "POST",
        "/role",
        json={"name": f"tasks-only-{tag}", "rules": [rule["id"]], "organization_id": org},
    )
    root.ok(
        "POST",
        "/user",
        json={
            "username": f"tasks-only-{tag}",
            "email": f"tasks-only-{tag}@example.org",
            "password": PASSWORD,
            "organization_id": org,
            "roles": [role["id"]],
        },
    )
    user = Api.as_user(server.api_url, f"tasks-only-{tag}", PASSWORD)
    assert user.get(f"/run/{run['id']}").status_code == 403
    assert user.ok("GET", f"/task/{task['id']}")["id"] == task["id"]
    answers = [
        user.get(f"/task/{task['id']}", params={"include": ["results", "runs"]}),
        user.get("/task", params={"include": ["results", "runs"], "collaboration_id": collab}),
        user.get(f"/task/{task['id']}", params={"include": "results"}),
        user.get("/task", params={"include": "runs"}),
    ]
    for answer in answers:
        assert answer.status_code in (200, 403), answer.text
        assert secret_result not in answer.text and secret_input not in answer.text
    # root, who may view runs, does get them
    full = root.ok("GET", f"/task/{task['id']}", params={"include": ["results", "runs"]})
    assert secret_result in json.dumps(full) and secret_input in json.dumps(full)


# --------------------------------------------------------------------------- accounts and CORS


def test_cve_2023_22738_users_cannot_be_moved_to_another_organization(stack):
    """CVE-2023-22738 (fixed in vantage6 3.8): a user moved to another organization kept the
    roles of the first and so acted in both. Even root cannot move one: the edit is refused
    and the user stays where it was (a vulnerable server answers 200 and moves it).
    """
    server, _ = stack
    root = Api.as_user(server.api_url, server.root_username, server.root_password)
    tag = secrets.token_hex(3)
    first, second = (
        root.ok("POST", "/organization", json={"name": f"move-{tag}-{i}"})["id"] for i in (1, 2)
    )
    user = root.ok(
        "POST",
        "/user",
        json={
            "username": f"mover-{tag}",
            "email": f"mover-{tag}@example.org",
            "password": PASSWORD,
            "organization_id": first,
        },
    )
    moved = root.patch(f"/user/{user['id']}", json={"organization_id": second})
    assert moved.status_code == 400, moved.text
    assert root.ok("GET", f"/user/{user['id']}")["organization"]["id"] == first


def test_cve_2024_23823_cors_origins_are_configurable(tmp_path: Path):
    """GHSA-4946-85pr-fvxh (CVE-2024-23823): the server allowed every origin and could not
    be told otherwise. With ``cors_origins`` set, another origin gets no CORS grant on the API,
    the static answers or the Socket.IO handshake (a vulnerable server grants ``*``).
    """
    config = tmp_path / "server.yaml"
    config.write_text(yaml.safe_dump({"cors_origins": ["https://ui.example.org"]}))
    server, cleanup = start_server("sqlite", config_file=config)
    try:
        for origin, granted in (
            ("https://evil.example.org", False),
            ("https://ui.example.org", True),
        ):
            preflight = httpx.options(
                server.api_url + "/user",
                headers={"Origin": origin, "Access-Control-Request-Method": "GET"},
            )
            static = httpx.get(server.api_url + "/version", headers={"Origin": origin})
            socket = httpx.get(
                server.url + "/socket.io/",
                params={"EIO": "4", "transport": "polling"},
                headers={"Origin": origin},
            )
            grant = preflight.headers.get("access-control-allow-origin")
            assert (grant == origin) if granted else (grant is None), (origin, preflight.headers)
            if not granted:
                assert "access-control-allow-origin" not in static.headers
            assert (socket.status_code == 200) is granted, (origin, socket.text)
    finally:
        cleanup()


# --------------------------------------------------------------------------- JWT secret


def test_cve_2025_43866_generated_jwt_secret_is_random(tmp_path: Path):
    """GHSA-m3mq-f375-5vgh (CVE-2025-43866): the generated JWT secret was a UUID1 (clock and
    MAC address), so tokens could be forged by guessing it.

    Two servers started without a configured secret must each hold a secret of at least 256
    random bits, unlike each other and not UUID-shaped; a token of one is refused by the other.
    A vulnerable server stores a 36-character UUID (the length check fails).
    """
    secrets_seen = []
    tokens = []
    servers = []
    try:
        for backend in ("sqlite", "postgresql"):
            server, cleanup = start_server(backend)
            servers.append((server, cleanup))
            with _engine(server).connect() as conn:
                value = conn.execute(
                    text("SELECT value FROM server_setting WHERE key = 'jwt_secret'")
                ).scalar_one()
            secrets_seen.append(value)
            tokens.append(
                Api.as_user(server.api_url, server.root_username, server.root_password).token
            )
        for value in secrets_seen:
            assert len(value) >= 43, "fewer than 256 bits"
            assert not re.fullmatch(r"[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}", value, re.I)
        assert secrets_seen[0] != secrets_seen[1]
        other = Api(servers[1][0].api_url, tokens[0])
        assert other.get("/user").status_code == 401
    finally:
        for _, cleanup in servers:
            cleanup()


# --------------------------------------------------------------------------- SSH in images


def _listening_ports(pid: int) -> set[int]:
    """TCP ports a process (and its children) listens on, from /proc."""
    pids = {pid}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) in pids:
            pids.add(int(stat.parent.name))
    inodes = set()
    for p in pids:
        for fd in Path(f"/proc/{p}/fd").glob("*"):
            try:
                target = fd.readlink().as_posix()
            except OSError:
                continue
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            cols = line.split()
            if cols[3] == "0A" and cols[9] in inodes:  # 0A: LISTEN
                ports.add(int(cols[1].rsplit(":", 1)[1], 16))
    return ports


def test_cve_2024_21653_server_listens_on_its_api_port_only(stack):
    """GHSA-2wgc-48g2-cj5w (CVE-2024-21653): vantage6's server and node images ran an SSH
    daemon that allowed root login with a password.

    Our server and node are processes, not images with a shell service: the running server
    listens on its API port and nothing else (an SSH daemon would add port 22).
    """
    server, _ = stack
    assert _listening_ports(server.process.pid) == {server.port}


@pytest.mark.containers
@pytest.mark.parametrize("image", [BASE_IMAGE, DEMO_IMAGE])
def test_cve_2024_21653_images_have_no_ssh_daemon(podman_images, image):  # noqa: F811
    """GHSA-2wgc-48g2-cj5w (CVE-2024-21653), the image half: the images we build (the base
    of every algorithm image) contain no SSH server, its configuration or an exposed port.
    vantage6's pre-4.2 image had ``openssh-server`` with ``PermitRootLogin yes``.
    """
    info = json.loads(podman("image", "inspect", image).stdout)[0]
    assert not (info.get("Config") or {}).get("ExposedPorts")
    probe = podman(
        "run",
        "--rm",
        "--network",
        "none",
        "--entrypoint",
        "sh",
        image,
        "-c",
        "ls /usr/sbin/sshd /usr/bin/sshd /etc/ssh/sshd_config 2>/dev/null; true",
    )
    assert probe.stdout.strip() == ""


# --------------------------------------------------------------------------- node policies


@pytest.mark.containers
@pytest.mark.timeout(600)
def test_cve_2023_47631_subtask_of_a_disallowed_image_is_refused(
    podman_images,  # noqa: F811
    test_image,  # noqa: F811
    tmp_path: Path,
):
    """GHSA-vc3v-ppc7-v486 (CVE-2023-47631): a vantage6 node skipped its ``allowed_algorithms``
    check for any task with a ``parent_id``, so a breached server could run any image by
    naming a parent.

    The breach is played by writing to the server's database: a task of an image the node
    does not allow gets a parent (an allowed task). A vulnerable node runs it (``completed``);
    ours marks the run ``not allowed``.
    """
    server, cleanup = start_server("sqlite")
    fed = None
    try:
        root = Api.as_user(server.api_url, server.root_username, server.root_password)
        fed = Federation(
            server,
            root,
            tmp_path,
            make_datasets(1),
            extra_config={"policies": {"allowed_algorithms": ["localhost/v6-demo"]}},
        )
        (station,) = fed.stations
        parent = fed.create_task({"method": "summary_partial", "kwargs": {}}, [station.org_id])
        child = fed.create_task({"method": "echo", "kwargs": {"x": 1}}, image=test_image)
        with _engine(server).begin() as conn:
            conn.execute(
                text("UPDATE task SET parent_id = :p, job_id = :j WHERE id = :c"),
                {"p": parent["id"], "j": parent["job_id"], "c": child["id"]},
            )
        assert root.ok("GET", f"/task/{child['id']}")["parent"]["id"] == parent["id"]
        fed.start()
        (parent_run,) = fed.wait_runs_settled(parent["id"])
        (child_run,) = fed.wait_runs_settled(child["id"])
        assert parent_run["status"] == "completed", fed.logs()
        assert child_run["status"] == "not allowed", fed.logs()
        assert "allowed_algorithms" in (child_run["log"] or "")
    finally:
        if fed is not None:
            fed.stop()
        cleanup()


@pytest.mark.containers
@pytest.mark.timeout(600)
def test_cve_2023_28635_organization_named_like_an_allowed_id_is_refused(
    podman_images,  # noqa: F811
    tmp_path: Path,
):
    """GHSA-7x94-6g2m-3hp2 (CVE-2023-28635): node policies list organizations by id or by
    name, so an organization that renames itself to the id of an allowed one passed them.

    The node allows its own organization by id and a partner by name. A second organization
    of the collaboration renames itself to that id and sends a task. A vulnerable node matches
    the name against the id entry and runs it; ours takes digit-only entries as ids only.
    """
    server, cleanup = start_server("sqlite")
    fed = None
    try:
        root = Api.as_user(server.api_url, server.root_username, server.root_password)
        fed = Federation(server, root, tmp_path, make_datasets(2))
        station, other = fed.stations
        station.extra_config = {
            "policies": {"allowed_organizations": [station.org_id, "Trusted Partner"]}
        }
        station.write_config(server)
        root.ok("PATCH", f"/organization/{other.org_id}", json={"name": str(station.org_id)})
        roles = root.ok("GET", "/role", params={"name": "Researcher"})["data"]
        root.ok(
            "POST",
            "/user",
            json={
                "username": f"impostor-{fed.tag}",
                "email": f"impostor-{fed.tag}@example.org",
                "password": PASSWORD,
                "organization_id": other.org_id,
                "roles": [roles[0]["id"]],
            },
        )
        impostor = Api.as_user(server.api_url, f"impostor-{fed.tag}", PASSWORD)
        payload = {"method": "summary_partial", "kwargs": {}}
        forged = impostor.ok(
            "POST",
            "/task",
            json={
                "name": "impostor",
                "image": DEMO_IMAGE,
                "collaboration_id": fed.collaboration_id,
                "organizations": [
                    {"id": station.org_id, "input": fed.encode_input(station.org_id, payload)}
                ],
                "databases": [{"label": "default"}],
            },
        )
        own = fed.create_task(payload, [station.org_id])
        station.start()
        fed.wait_online([station])
        (own_run,) = fed.wait_runs_settled(own["id"])
        (forged_run,) = fed.wait_runs_settled(forged["id"])
        assert own_run["status"] == "completed", fed.logs()
        assert forged_run["status"] == "not allowed", fed.logs()
    finally:
        if fed is not None:
            fed.stop()
        cleanup()
