"""Data sources with real podman: CSV, SQLite, parquet and Excel files mounted read-only, and a
network SQL database reached through the node's relay (the algorithm has no network)."""

from __future__ import annotations

import sqlite3
import struct
import time

import pytest

from tests.node.conftest import make_datasets
from tests.node.harness import Federation

pytestmark = [pytest.mark.containers, pytest.mark.timeout(600)]

PG = ("127.0.0.1", 5432)


def _pg_listening() -> bool:
    import socket

    try:
        with socket.create_connection(PG, timeout=1):
            return True
    except OSError:
        return False


@pytest.fixture(scope="module")
def fed(podman_images, test_image, live_server, root_api, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("sources")
    data = make_datasets(1)[0]
    sources = workdir / "sources"
    sources.mkdir()
    with sqlite3.connect(sources / "clinic.sqlite") as conn:
        data.to_sql("patients", conn, index=False)
    data.to_parquet(sources / "table.parquet")
    data.to_excel(sources / "sheet.xlsx", index=False)
    databases = [
        {"label": "default", "uri": "placeholder", "type": "csv"},
        {"label": "clinic", "uri": f"sqlite:///{sources / 'clinic.sqlite'}", "type": "sql"},
        {"label": "table", "uri": str(sources / "table.parquet"), "type": "parquet"},
        {"label": "sheet", "uri": str(sources / "sheet.xlsx"), "type": "excel"},
        {
            "label": "warehouse",
            "uri": f"postgresql://nobody@{PG[0]}:{PG[1]}/nothing",
            "type": "sql",
            "env": {"schema": "public"},
        },
    ]
    federation = Federation(live_server, root_api, workdir, [data])
    station = federation.stations[0]
    databases[0]["uri"] = str(station.data_path)
    station.extra_config = {"databases": databases}
    station.write_config(live_server)
    federation.start()
    yield federation
    federation.stop()


def _result(fed, payload, databases, image):
    station = fed.stations[0]
    task = fed.create_task(payload, [station.org_id], image=image, databases=databases)
    (run,) = fed.wait_runs_settled(task["id"])
    assert run["status"] == "completed", run["log"]
    return fed.results(task["id"])[0]


def test_sqlite_source_with_query(fed, test_image):
    rows = len(fed.stations[0].data)
    got = _result(
        fed,
        {"method": "count_rows"},
        [{"label": "clinic", "query": "SELECT * FROM patients WHERE visits > 2"}],
        test_image,
    )
    expected = int((fed.stations[0].data["visits"] > 2).sum())
    assert got == expected and 0 < got < rows


def test_file_sources_are_mounted_read_only(fed, test_image):
    labels = ["default", "table", "sheet", "clinic"]
    env = _result(fed, {"method": "database_env"}, [{"label": x} for x in labels], test_image)
    assert env["TABLE_DATABASE_URI"] == "/mnt/db/table.parquet"
    assert env["TABLE_DATABASE_TYPE"] == "parquet"
    assert env["SHEET_DATABASE_URI"] == "/mnt/db/sheet.xlsx"
    assert env["SHEET_DATABASE_TYPE"] == "excel"
    assert env["CLINIC_DATABASE_URI"] == "sqlite:////mnt/db/clinic.sqlite"
    assert "WAREHOUSE_DATABASE_URI" not in env  # not requested, not shown
    paths = ["/mnt/db/default.csv", "/mnt/db/table.parquet", "/mnt/db/sheet.xlsx"]
    result = _result(
        fed,
        {"method": "writable", "kwargs": {"paths": paths}},
        [{"label": x} for x in labels],
        test_image,
    )
    assert all(v.startswith("refused") for v in result.values()), result
    probe = _result(
        fed,
        {"method": "probe", "kwargs": {"paths": ["/mnt/db"]}},
        [{"label": x} for x in labels],
        test_image,
    )
    assert sorted(probe["paths"]["/mnt/db"]) == [
        "clinic.sqlite",
        "default.csv",
        "sheet.xlsx",
        "table.parquet",
    ]


@pytest.mark.skipif(not _pg_listening(), reason="no PostgreSQL on 127.0.0.1:5432")
def test_network_database_through_the_relay(fed, test_image):
    env = _result(fed, {"method": "database_env"}, [{"label": "warehouse"}], test_image)
    uri = env["WAREHOUSE_DATABASE_URI"]
    assert uri.startswith("postgresql://nobody@127.0.0.1:")
    port = int(uri.rsplit(":", 1)[1].split("/")[0])
    ssl_request = struct.pack("!ii", 8, 80877103).hex()
    answer = _result(
        fed,
        {
            "method": "tcp_exchange",
            "kwargs": {"host": "127.0.0.1", "port": port, "payload_hex": ssl_request},
        },
        [{"label": "warehouse"}],
        test_image,
    )
    assert bytes.fromhex(answer) in (b"N", b"S")  # PostgreSQL answered through the relay
    # without asking for the database, nothing answers on that port
    station = fed.stations[0]
    task = fed.create_task(
        {
            "method": "tcp_exchange",
            "kwargs": {"host": "127.0.0.1", "port": port, "payload_hex": ssl_request},
        },
        [station.org_id],
        image=test_image,
        databases=[{"label": "default"}],
    )
    (run,) = fed.wait_runs_settled(task["id"])
    if run["status"] == "completed":
        assert fed.results(task["id"]) == [""]  # closed without a word
    else:
        assert run["status"] == "crashed"


def test_live_logs_reach_the_collaboration(fed, test_image, live_server):
    import asyncio

    import socketio

    from tests.api import Api

    root = Api.as_user(live_server.api_url, live_server.root_username, live_server.root_password)
    station = fed.stations[0]
    received: list[dict] = []

    async def scenario() -> None:
        sio = socketio.AsyncClient(reconnection=False)
        got = asyncio.Event()

        async def on_log(data):
            received.append(data)
            if "going to sleep" in str(data.get("log", "")):
                got.set()

        sio.on("algorithm_log", on_log, namespace="/tasks")
        await sio.connect(
            live_server.url,
            headers={"Authorization": f"Bearer {root.token}"},
            namespaces=["/tasks"],
            transports=["websocket"],
        )
        task = await asyncio.to_thread(
            fed.create_task,
            {"method": "sleep", "kwargs": {"seconds": 3}},
            [station.org_id],
            test_image,
        )
        started = time.monotonic()
        await asyncio.wait_for(got.wait(), 60)
        # the line arrived while the algorithm was still sleeping
        runs = await asyncio.to_thread(fed.runs, task["id"])
        assert runs[0]["status"] == "active" or time.monotonic() - started < 3
        await sio.disconnect()

    asyncio.run(scenario())
    assert any(d.get("run_id") for d in received)
