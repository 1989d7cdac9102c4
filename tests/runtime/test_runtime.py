"""The ContainerRuntime contract, checked with real containers on every backend."""

from __future__ import annotations

import json
import socket
import threading
import time
from pathlib import Path

import pytest

from containers.images import INPUTS_LABEL
from tests.runtime.conftest import LABEL
from vantage6_node.runtime import (
    ContainerNotFound,
    ContainerRuntime,
    ContainerStartError,
    ImageNotFound,
    ImagePullError,
    Mount,
    RunSpec,
    UnknownRuntime,
    WaitTimeout,
    available_runtimes,
    load_runtime,
    network_of_container,
)

pytestmark = pytest.mark.containers

LABEL_KEY = LABEL


def _spec(image: str, labels: dict[str, str], *command: str, **kwargs) -> RunSpec:
    return RunSpec(image=image, command=list(command), labels=labels, **kwargs)


def _py(image: str, labels: dict[str, str], code: str, **kwargs) -> RunSpec:
    return _spec(image, labels, "python3", "-c", code, **kwargs)


def _run(rt: ContainerRuntime, spec: RunSpec, timeout: float = 60) -> tuple[int, str]:
    done = rt.run_to_completion(spec, timeout=timeout)
    return done.exit_code, done.logs


# -- loading ----------------------------------------------------------------------------------


def test_entry_points_list_both_backends() -> None:
    assert {"docker", "podman"} <= set(available_runtimes())


def test_unknown_runtime_names_the_available_ones() -> None:
    with pytest.raises(UnknownRuntime) as err:
        load_runtime("no-such-engine")
    assert "docker" in str(err.value) and "podman" in str(err.value)


# -- images -----------------------------------------------------------------------------------


def test_image_exists_and_info(runtime: ContainerRuntime, base_image: str) -> None:
    assert runtime.image_exists(base_image)
    info = runtime.image_info(base_image)
    assert info is not None and info.id
    assert info.labels.get(INPUTS_LABEL)
    assert not runtime.image_exists("localhost/v6-does-not-exist:latest")
    assert runtime.image_info("localhost/v6-does-not-exist:latest") is None


def test_run_missing_image_does_not_pull(runtime: ContainerRuntime, test_labels) -> None:
    started = time.monotonic()
    with pytest.raises(ImageNotFound):
        runtime.run(RunSpec("localhost/v6-does-not-exist:latest", ["true"], labels=test_labels))
    assert time.monotonic() - started < 10


def test_pull_from_unreachable_registry_fails(runtime: ContainerRuntime) -> None:
    # port 9 on loopback: nothing listens, the connection is refused at once
    with pytest.raises(ImagePullError):
        runtime.pull("127.0.0.1:9/v6/nothing:latest")


# -- running ----------------------------------------------------------------------------------


@pytest.mark.parametrize("code", [0, 3, 42])
def test_exit_codes(runtime: ContainerRuntime, base_image: str, test_labels, code: int) -> None:
    exit_code, _ = _run(runtime, _spec(base_image, test_labels, "sh", "-c", f"exit {code}"))
    assert exit_code == code


def test_run_returns_id_and_inspect(runtime: ContainerRuntime, base_image: str, test_labels):
    cid = runtime.run(_spec(base_image, test_labels, "true", name=f"v6t-{test_labels[LABEL_KEY]}"))
    assert runtime.wait(cid, timeout=30) == 0
    info = runtime.inspect(cid)
    assert info.id.startswith(cid) or cid.startswith(info.id)
    assert info.name == f"v6t-{test_labels[LABEL_KEY]}"
    assert info.state == "exited" and info.exit_code == 0
    assert info.labels[LABEL_KEY] == test_labels[LABEL_KEY]
    # the name works wherever an id does
    assert runtime.inspect(info.name).id == info.id


def test_environment_arrives_verbatim(runtime: ContainerRuntime, base_image: str, test_labels):
    env = {
        "PLAIN": "value",
        "SPACES": "a b  c",
        "EQUALS": "k=v=w",
        "QUOTES": 'it\'s "quoted"',
        "DOLLAR": "$HOME and ${PATH}",
        "UNICODE": "naïve ✓",
        "NEWLINE": "line1\nline2",
        "EMPTY": "",
    }
    names = json.dumps(list(env))
    code = f"import os, json; print(json.dumps({{k: os.environ.get(k) for k in {names}}}))"
    exit_code, logs = _run(runtime, _py(base_image, test_labels, code, env=env))
    assert exit_code == 0, logs
    assert json.loads(logs.strip().splitlines()[-1]) == env


def test_mounts_read_write_and_read_only(
    runtime: ContainerRuntime, base_image: str, test_labels, tmp_path: Path
) -> None:
    rw = tmp_path / "rw"
    ro = tmp_path / "ro"
    rw.mkdir()
    ro.mkdir()
    (ro / "input.txt").write_text("from the host")
    script = (
        "cat /mnt/ro/input.txt > /mnt/rw/copy.txt; "
        "echo written > /mnt/rw/new.txt; "
        "if echo x > /mnt/ro/input.txt 2>/dev/null; then echo RO-WRITABLE; fi; "
        "if touch /mnt/ro/other 2>/dev/null; then echo RO-CREATABLE; fi; "
        "echo done"
    )
    spec = _spec(
        base_image,
        test_labels,
        "sh",
        "-c",
        script,
        mounts=[Mount(str(rw), "/mnt/rw", read_only=False), Mount(str(ro), "/mnt/ro")],
    )
    exit_code, logs = _run(runtime, spec)
    assert exit_code == 0, logs
    assert "done" in logs
    assert "RO-WRITABLE" not in logs and "RO-CREATABLE" not in logs
    assert (rw / "copy.txt").read_text() == "from the host"
    assert (rw / "new.txt").read_text() == "written\n"
    assert (ro / "input.txt").read_text() == "from the host"
    assert not (ro / "other").exists()


def test_mount_defaults_to_read_only() -> None:
    assert Mount("/a", "/b").read_only is True


def test_single_file_mount(
    runtime: ContainerRuntime, base_image: str, test_labels, tmp_path: Path
) -> None:
    token = tmp_path / "token"
    token.write_text("secret-token")
    spec = _spec(
        base_image, test_labels, "cat", "/mnt/token", mounts=[Mount(str(token), "/mnt/token")]
    )
    exit_code, logs = _run(runtime, spec)
    assert exit_code == 0 and logs.strip() == "secret-token"


# -- logs -------------------------------------------------------------------------------------


def test_logs_stdout_and_stderr(runtime: ContainerRuntime, base_image: str, test_labels) -> None:
    spec = _spec(base_image, test_labels, "sh", "-c", "echo to-out; echo to-err >&2")
    cid = runtime.run(spec)
    assert runtime.wait(cid, timeout=30) == 0
    both = runtime.logs(cid)
    assert "to-out" in both and "to-err" in both
    only_out = runtime.logs(cid, stderr=False)
    assert "to-out" in only_out and "to-err" not in only_out
    only_err = runtime.logs(cid, stdout=False)
    assert "to-err" in only_err and "to-out" not in only_err


def test_stream_logs_follow(runtime: ContainerRuntime, base_image: str, test_labels) -> None:
    script = "echo first; sleep 2; echo second; echo third >&2; exit 5"
    cid = runtime.run(_spec(base_image, test_labels, "sh", "-c", script))
    arrivals: list[tuple[str, float]] = []
    for line in runtime.stream_logs(cid, follow=True):
        arrivals.append((line, time.monotonic()))
    ended = time.monotonic()
    lines = [line for line, _ in arrivals]
    assert lines[0] == "first"
    assert {"second", "third"} <= set(lines)
    # the first line came while the container was still sleeping, not at the end
    assert ended - arrivals[0][1] > 1.0
    assert runtime.wait(cid, timeout=30) == 5


def test_stream_logs_without_follow(runtime: ContainerRuntime, base_image: str, test_labels):
    cid = runtime.run(_spec(base_image, test_labels, "sh", "-c", "echo one; echo two; sleep 30"))
    deadline = time.monotonic() + 10
    lines: list[str] = []
    while time.monotonic() < deadline:
        lines = list(runtime.stream_logs(cid, follow=False))
        if "two" in lines:
            break
        time.sleep(0.1)
    assert lines == ["one", "two"]
    assert runtime.inspect(cid).state == "running"


def test_stream_logs_can_be_abandoned(runtime: ContainerRuntime, base_image: str, test_labels):
    cid = runtime.run(_spec(base_image, test_labels, "sh", "-c", "echo hello; sleep 60"))
    stream = runtime.stream_logs(cid, follow=True)
    assert next(iter(stream)) == "hello"
    stream.close()  # must not hang until the container exits
    runtime.kill(cid)


# -- lifecycle --------------------------------------------------------------------------------


def test_kill_sleeping_container(runtime: ContainerRuntime, base_image: str, test_labels) -> None:
    cid = runtime.run(_spec(base_image, test_labels, "sleep", "300"))
    assert runtime.wait_until_running(cid).state == "running"
    started = time.monotonic()
    runtime.kill(cid)
    code = runtime.wait(cid, timeout=20)
    assert time.monotonic() - started < 10
    assert code == 137  # 128 + SIGKILL
    assert runtime.inspect(cid).state == "exited"
    runtime.kill(cid)  # killing an exited container is not an error


def test_wait_timeout_leaves_container_running(
    runtime: ContainerRuntime, base_image: str, test_labels
) -> None:
    cid = runtime.run(_spec(base_image, test_labels, "sleep", "300"))
    started = time.monotonic()
    with pytest.raises(WaitTimeout):
        runtime.wait(cid, timeout=1.5)
    assert 1.0 < time.monotonic() - started < 10
    assert runtime.inspect(cid).state == "running"
    runtime.kill(cid)
    assert runtime.wait(cid, timeout=20) == 137


def test_run_to_completion_kills_on_timeout(
    runtime: ContainerRuntime, base_image: str, test_labels
) -> None:
    with pytest.raises(WaitTimeout):
        runtime.run_to_completion(_spec(base_image, test_labels, "sleep", "300"), timeout=1)
    assert runtime.list_containers(test_labels) == []


def test_remove(runtime: ContainerRuntime, base_image: str, test_labels) -> None:
    cid = runtime.run(_spec(base_image, test_labels, "sleep", "300"))
    runtime.remove(cid, force=True)
    with pytest.raises(ContainerNotFound):
        runtime.inspect(cid)
    runtime.remove(cid)  # already gone: no error
    with pytest.raises(ContainerNotFound):
        runtime.logs(cid)
    with pytest.raises(ContainerNotFound):
        runtime.wait(cid, timeout=5)


def test_list_by_label(runtime: ContainerRuntime, base_image: str, test_labels) -> None:
    a1 = runtime.run(_spec(base_image, {**test_labels, "role": "a"}, "sleep", "300"))
    a2 = runtime.run(_spec(base_image, {**test_labels, "role": "a"}, "true"))
    b1 = runtime.run(_spec(base_image, {**test_labels, "role": "b"}, "sleep", "300"))
    runtime.wait(a2, timeout=30)

    def ids(infos) -> set[str]:
        return {i.id for i in infos}

    assert ids(runtime.list_containers(test_labels)) == {a1, a2, b1}
    assert ids(runtime.list_containers({**test_labels, "role": "a"})) == {a1, a2}
    assert ids(runtime.list_containers({**test_labels, "role": None})) == {a1, a2, b1}
    running = runtime.list_containers({**test_labels, "role": "a"}, all=False)
    assert ids(running) == {a1}
    exited = [i for i in runtime.list_containers(test_labels) if i.id == a2][0]
    assert exited.state == "exited" and exited.exit_code == 0
    assert exited.labels["role"] == "a"
    assert runtime.list_containers({LABEL_KEY: "no-such-value"}) == []


# -- isolation and limits ---------------------------------------------------------------------

_CGROUP_LIMITS = r"""
import json, os
def read(*paths):
    for p in paths:
        try:
            return open(p).read().strip()
        except OSError:
            pass
    return None
cg = "/sys/fs/cgroup"
out = {
    "memory": read(cg + "/memory/memory.limit_in_bytes", cg + "/memory.max"),
    "cpu_quota": read(cg + "/cpu/cpu.cfs_quota_us", cg + "/cpu,cpuacct/cpu.cfs_quota_us"),
    "cpu_period": read(cg + "/cpu/cpu.cfs_period_us", cg + "/cpu,cpuacct/cpu.cfs_period_us"),
    "cpu_max": read(cg + "/cpu.max"),
    "pids": read(cg + "/pids/pids.max", cg + "/pids.max"),
}
print(json.dumps(out))
"""


def test_limits_applied(runtime: ContainerRuntime, base_image: str, test_labels) -> None:
    spec = _py(
        base_image,
        test_labels,
        _CGROUP_LIMITS,
        memory=96 * 1024 * 1024,
        cpus=0.5,
        pids_limit=77,
    )
    exit_code, logs = _run(runtime, spec)
    assert exit_code == 0, logs
    seen = json.loads(logs.strip().splitlines()[-1])
    assert int(seen["memory"]) == 96 * 1024 * 1024
    if seen["cpu_max"]:
        quota, period = seen["cpu_max"].split()
    else:
        quota, period = seen["cpu_quota"], seen["cpu_period"]
    assert int(quota) / int(period) == pytest.approx(0.5)
    assert seen["pids"] == "77"


def test_memory_limit_is_enforced(runtime: ContainerRuntime, base_image: str, test_labels):
    code = "b = bytearray(400 * 1024 * 1024); b[::4096] = b'x' * len(b[::4096]); print('ALIVE')"
    exit_code, logs = _run(runtime, _py(base_image, test_labels, code, memory=64 * 1024 * 1024))
    assert exit_code != 0
    assert "ALIVE" not in logs


def test_least_privilege_defaults(runtime: ContainerRuntime, base_image: str, test_labels):
    script = "grep -E '^(CapEff|CapBnd|NoNewPrivs):' /proc/self/status; ls /sys/class/net"
    exit_code, logs = _run(runtime, _spec(base_image, test_labels, "sh", "-c", script))
    assert exit_code == 0, logs
    fields = dict(line.split(":\t") for line in logs.splitlines() if ":\t" in line)
    assert int(fields["CapEff"], 16) == 0
    assert int(fields["CapBnd"], 16) == 0
    assert fields["NoNewPrivs"].strip() == "1"
    interfaces = [line for line in logs.splitlines() if ":\t" not in line and line.strip()]
    assert interfaces == ["lo"]


def test_cap_add_is_explicit(runtime: ContainerRuntime, base_image: str, test_labels) -> None:
    spec = _spec(
        base_image, test_labels, "grep", "^CapEff:", "/proc/self/status", cap_add=["CHOWN"]
    )
    exit_code, logs = _run(runtime, spec)
    assert exit_code == 0, logs
    assert int(logs.split(":")[1].strip(), 16) == 1 << 0  # CAP_CHOWN is bit 0


def test_user(runtime: ContainerRuntime, base_image: str, test_labels) -> None:
    spec = _spec(base_image, test_labels, "sh", "-c", "id -u; id -g", user="65534:65534")
    exit_code, logs = _run(runtime, spec)
    assert exit_code == 0, logs
    assert logs.split() == ["65534", "65534"]


def test_read_only_rootfs_with_tmpfs(runtime: ContainerRuntime, base_image: str, test_labels):
    script = (
        "if touch /rootfs-write 2>/dev/null; then echo ROOT-WRITABLE; fi; "
        "echo ok > /scratch/file && cat /scratch/file; "
        "grep ' /scratch ' /proc/mounts"
    )
    spec = _spec(
        base_image,
        test_labels,
        "sh",
        "-c",
        script,
        read_only_rootfs=True,
        tmpfs={"/scratch": "size=8m"},
    )
    exit_code, logs = _run(runtime, spec)
    assert exit_code == 0, logs
    assert "ROOT-WRITABLE" not in logs
    assert "ok" in logs.splitlines()
    assert "tmpfs" in logs


def test_working_dir_and_entrypoint(runtime: ContainerRuntime, base_image: str, test_labels):
    spec = RunSpec(
        base_image,
        command=["-c", "import os; print(os.getcwd())"],
        entrypoint=["python3"],
        working_dir="/usr/share",
        labels=test_labels,
    )
    exit_code, logs = _run(runtime, spec)
    assert exit_code == 0, logs
    assert logs.strip() == "/usr/share"


# -- networking -------------------------------------------------------------------------------


def test_network_none_has_no_network(
    runtime: ContainerRuntime, base_image: str, test_labels
) -> None:
    # a server on the host's loopback must not be reachable from the container's loopback;
    # the listen backlog would hold a connection even though nobody accepts during the run
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    port = server.getsockname()[1]
    code = f"""
import json, os, socket
result = {{"interfaces": sorted(os.listdir("/sys/class/net"))}}
routes = [l for l in open("/proc/net/route").read().splitlines()[1:] if l.strip()]
result["routes"] = len(routes)
s = socket.socket(); s.settimeout(3)
try:
    s.connect(("127.0.0.1", {port})); result["host_loopback"] = "connected"
except OSError as exc:
    result["host_loopback"] = type(exc).__name__
print(json.dumps(result))
"""
    try:
        exit_code, logs = _run(runtime, _py(base_image, test_labels, code))
        server.setblocking(False)
        try:
            server.accept()
            reached_host = True
        except BlockingIOError:
            reached_host = False
    finally:
        server.close()
    assert exit_code == 0, logs
    seen = json.loads(logs.strip().splitlines()[-1])
    assert seen["interfaces"] == ["lo"]
    assert seen["routes"] == 0
    assert seen["host_loopback"] != "connected"
    assert not reached_host


_SERVER = r"""
import http.server
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = b"hello from the shared namespace"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
print("listening", flush=True)
http.server.HTTPServer(("127.0.0.1", 8765), H).serve_forever()
"""

_CLIENT = r"""
import time, urllib.request
for attempt in range(100):
    try:
        print(urllib.request.urlopen("http://127.0.0.1:8765/", timeout=2).read().decode())
        break
    except OSError:
        time.sleep(0.1)
else:
    raise SystemExit("server not reachable")
"""


def test_shared_network_namespace_over_loopback(
    runtime: ContainerRuntime, base_image: str, test_labels
) -> None:
    server = runtime.run(_py(base_image, {**test_labels, "role": "server"}, _SERVER))
    try:
        runtime.wait_until_running(server)
        client = _py(
            base_image,
            {**test_labels, "role": "client"},
            _CLIENT,
            network=network_of_container(server),
        )
        exit_code, logs = _run(runtime, client)
        assert exit_code == 0, logs
        assert "hello from the shared namespace" in logs
        # the shared namespace is still isolated: loopback only
        exit_code, logs = _run(
            runtime,
            _spec(
                base_image,
                test_labels,
                "ls",
                "/sys/class/net",
                network=network_of_container(server),
            ),
        )
        assert logs.split() == ["lo"]
    finally:
        runtime.remove(server, force=True)


def test_create_and_remove_network(runtime: ContainerRuntime, test_labels) -> None:
    name = f"v6t-net-{test_labels[LABEL_KEY][:12]}"
    try:
        net_id = runtime.create_network(name, internal=True, labels=test_labels)
        assert net_id
        assert runtime.network_exists(name)
    finally:
        runtime.remove_network(name)
    assert not runtime.network_exists(name)
    runtime.remove_network(name)  # missing: no error


def test_unix_socket_from_host_reachable_without_network(
    runtime: ContainerRuntime, base_image: str, test_labels, tmp_path: Path
) -> None:
    """The forwarder layout: a host service on a unix socket, mounted into a no-network
    container, is reachable there (the node proxy can be relayed this way)."""
    folder = tmp_path / "sock"
    folder.mkdir()
    path = folder / "proxy.sock"
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(path))
    server.listen(1)
    server.settimeout(60)
    path.chmod(0o666)
    received: list[bytes] = []

    def serve() -> None:
        try:
            conn, _ = server.accept()
        except OSError:
            return
        with conn:
            received.append(conn.recv(1024))
            conn.sendall(b"pong from the host")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    code = (
        "import socket; s = socket.socket(socket.AF_UNIX); s.connect('/run/v6/proxy.sock'); "
        "s.sendall(b'ping'); print(s.recv(1024).decode())"
    )
    spec = _py(
        base_image,
        test_labels,
        code,
        mounts=[Mount(str(folder), "/run/v6")],  # read-only is enough to connect
        user="65534:65534",
    )
    try:
        exit_code, logs = _run(runtime, spec)
    finally:
        server.close()
        thread.join(5)
    assert exit_code == 0, logs
    assert logs.strip() == "pong from the host"
    assert received == [b"ping"]


def test_failed_start_leaves_no_container(
    runtime: ContainerRuntime, base_image: str, test_labels
) -> None:
    with pytest.raises(ContainerStartError):
        runtime.run(_spec(base_image, test_labels, "/no/such/program"))
    assert runtime.list_containers(test_labels) == []


def test_name_conflict_keeps_existing_container(
    runtime: ContainerRuntime, base_image: str, test_labels
) -> None:
    name = f"v6t-{test_labels[LABEL_KEY]}"
    first = runtime.run(_spec(base_image, test_labels, "sleep", "300", name=name))
    with pytest.raises(ContainerStartError):
        runtime.run(_spec(base_image, test_labels, "true", name=name))
    assert runtime.inspect(name).id == first
    assert runtime.inspect(first).state == "running"
