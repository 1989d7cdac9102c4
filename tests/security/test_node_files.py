"""Issue 8 item 1: a hostile algorithm container against a real node (podman).

Whatever a container leaves in its run folder (links, hard links, FIFOs, devices, huge files,
files written after its exit) the node must not follow, block on or send: the run fails with a
clear log, no host file leaks, nothing outside the run folder is touched, and the node keeps
working. Two stations: the default one runs algorithms as an unprivileged user (most attacks
are stopped inside the container); the other keeps the image's user (root), so that the
node's own checks are what stops them.
"""

from __future__ import annotations

import json
import secrets
import time

import pytest

from tests.node.conftest import make_datasets
from tests.node.harness import Federation
from tests.security.node_fixtures import (  # noqa: F401 - fixture
    Secrets,
    evil_image,
    plant_secrets,
    raw_results,
)

pytestmark = [pytest.mark.containers, pytest.mark.timeout(900)]

HUGE = 64 * 1024 * 1024


@pytest.fixture(scope="module", params=["nonroot", "root"])
def station_fed(request, evil_image, live_server, root_api, tmp_path_factory):  # noqa: F811
    """One encrypted station with planted secrets; ``root``: containers keep the image user."""
    extra = {"limits": {"max_output": "1m"}} if request.param == "root" else {}
    if request.param == "root":
        extra["isolation"] = {"container_user": None}
    fed = Federation(
        live_server,
        root_api,
        tmp_path_factory.mktemp(f"evil-{request.param}"),
        make_datasets(1),
        encrypted=True,
        extra_config=extra,
    )
    fed.mode = request.param
    fed.secrets = plant_secrets(fed.stations[0])
    fed.start()
    yield fed
    fed.stop()


def _run(fed: Federation, method: str, **kwargs) -> tuple[dict, bytes]:
    task = fed.create_task(
        {"method": method, "kwargs": kwargs}, image="localhost/v6-evil:latest", databases=[]
    )
    (run,) = fed.wait_runs_settled(task["id"], timeout=180)
    (result,) = raw_results(fed, task["id"])
    return run, result


def _assert_nothing_leaked(fed: Federation, run: dict, result: bytes, *extra: str) -> None:
    found: Secrets = fed.secrets
    markers = found.markers + list(extra)
    leaked = [m for m in markers if m in (run["log"] or "") or m.encode() in result]
    assert not leaked, f"leaked {leaked}: {run['log']}"
    assert found.host_file.read_text().startswith("HOST-FILE-MARKER-")
    assert (found.canary_dir / "canary").read_text() == "still here"
    assert fed.stations[0].config_path.is_file()
    assert fed.stations[0].process.poll() is None, fed.logs()


def _targets(fed: Federation) -> dict[str, str]:
    station = fed.stations[0]
    return {
        "config": str(station.config_path),
        "private_key": str(station.private_key),
        "host_file": str(fed.secrets.host_file),
        "node_environ": "/proc/1/environ",
    }


ATTACKS = ["symlink:config", "symlink:private_key", "symlink:host_file", "symlink:node_environ"]
ATTACKS += ["hardlink", "fifo", "device", "huge"]


@pytest.mark.parametrize("attack", ATTACKS)
def test_output_attacks_fail_the_run_and_leak_nothing(station_fed, attack):
    fed = station_fed
    kind, _, target = attack.partition(":")
    targets = _targets(fed)
    if kind == "symlink":
        run, result = _run(fed, "symlink_output", target=targets[target])
    elif kind == "hardlink":
        run, result = _run(fed, "hardlink_output", target=targets["host_file"])
    elif kind == "huge":
        run, result = _run(fed, "huge_output", size=HUGE)
    else:
        run, result = _run(fed, f"{kind}_output")
    log = run["log"] or ""
    _assert_nothing_leaked(fed, run, result)
    assert result == b""
    assert ("in place:" in log) != ("blocked:" in log), log
    if "blocked:" in log:
        # the container could not even put the attack in place
        assert run["status"] == "crashed", log
    else:
        assert run["status"] == "failed", log
        assert "[node] the output was refused: output " in log, log
    if fed.mode == "nonroot" and kind != "huge":
        assert "blocked:" in log, log  # an unprivileged container cannot replace its output


def test_files_written_after_exit_are_not_read(station_fed):
    fed = station_fed
    run, result = _run(fed, "late_writer", target=_targets(fed)["config"], delay=1.0)
    assert run["status"] == "completed", run["log"]
    assert json.loads(result) == "parent result"
    _assert_nothing_leaked(fed, run, result)


def test_links_in_the_temporary_folder_touch_nothing_outside(station_fed):
    fed = station_fed
    found: Secrets = fed.secrets
    targets = [str(found.host_file), str(found.canary_dir), str(fed.stations[0].config_path)]
    run, result = _run(fed, "tmp_links", targets=targets)
    assert run["status"] == "completed", run["log"]
    folder = fed.stations[0].run_folder(run["id"])
    deadline = time.monotonic() + 60
    while folder.tmp_dir.exists():  # removed once the server has the outcome
        assert time.monotonic() < deadline, fed.logs()
        time.sleep(0.1)
    _assert_nothing_leaked(fed, run, result)


def test_one_run_cannot_read_another_runs_files_or_the_node_secrets(station_fed):
    fed = station_fed
    station = fed.stations[0]
    victim_secret = f"VICTIM-INPUT-{secrets.token_hex(8)}"
    victim = fed.create_task(
        {"method": "victim", "kwargs": {"secret": victim_secret, "seconds": 120}},
        image="localhost/v6-evil:latest",
        databases=[],
    )
    victim_run = fed.wait_marker(station, victim["id"], "ready")
    victim_folder = station.run_folder(victim_run["id"])
    victim_token = victim_folder.token_file.read_text()
    try:
        paths = [str(victim_folder.input_file), str(victim_folder.token_file)]
        # (inside the container /proc/1 is the container's own first process)
        paths += [p for name, p in _targets(fed).items() if name != "node_environ"]
        run, result = _run(fed, "probe", paths=paths)
        assert run["status"] == "completed", run["log"]
        _assert_nothing_leaked(fed, run, result, victim_secret, victim_token)
        seen = json.loads(result)
        for path in paths:
            assert seen["paths"][path].startswith("error:"), (path, seen["paths"][path])
        if fed.mode == "nonroot":
            assert (seen["uid"], seen["gid"]) == (65534, 65534)
            assert seen["io_writable"] is False
        # a symbolic link to the other run's input gets nothing either
        run, result = _run(fed, "symlink_output", target=str(victim_folder.input_file))
        assert run["status"] in ("failed", "crashed"), run["log"]
        _assert_nothing_leaked(fed, run, result, victim_secret, victim_token)
    finally:
        fed.researcher.ok("POST", "/kill/task", json={"id": victim["id"]})
    fed.wait_runs_settled(victim["id"])


def test_the_node_still_works(station_fed):
    run, result = _run(station_fed, "env")
    assert run["status"] == "completed", run["log"]
    assert json.loads(result)["HOST"] == "http://127.0.0.1"
