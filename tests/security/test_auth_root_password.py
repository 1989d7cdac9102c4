"""No default password: the first start never creates root with a known or empty password
(vantage6 creates root/root). It takes a strong one from the environment or generates one."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.livestack import LiveServer, free_port


def _start(tmp_path: Path, password: str | None, name: str = "db") -> LiveServer:
    server = LiveServer(
        database_uri=f"sqlite:///{tmp_path / (name + '.sqlite')}",
        workdir=tmp_path,
        set_root_password=password is not None,
        root_password=password or "",
    )
    return server


def _login(server: LiveServer, password: str) -> int:
    return httpx.post(
        server.api_url + "/token/user",
        json={"username": "root", "password": password or "x"},
        timeout=30,
    ).status_code


@pytest.mark.parametrize("given", [None, ""], ids=["unset", "empty"])
def test_no_password_given_means_a_generated_one(tmp_path: Path, given: str | None) -> None:
    printed = []
    for name in ("one", "two"):
        server = _start(tmp_path, given, name)
        server.start()
        try:
            found = re.findall(r"password: (\S+)", server.log_file.read_text())
            assert found, "no generated password was shown"
            printed.append(found[-1])
            assert _login(server, found[-1]) == 200
            for known in ("root", "Root", "password", ""):  # fewer than the lockout needs
                assert _login(server, known) == 401
        finally:
            server.stop()
    assert printed[0] != printed[1], "the generated root password is not random"
    assert len(printed[0]) >= 16


@pytest.mark.parametrize("known", ["root", "Root", "password", "admin", "12345678"])
def test_known_weak_root_password_refuses_to_start(tmp_path: Path, known: str) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "vantage6_server",
            "--port",
            str(free_port()),
            "--database-uri",
            f"sqlite:///{tmp_path / 'db.sqlite'}",
        ],
        env={"V6_ROOT_PASSWORD": known, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "not strong enough" in result.stderr
    assert not (tmp_path / "db.sqlite").exists() or _no_root(tmp_path / "db.sqlite")


def _no_root(db_file: Path) -> bool:
    import sqlite3

    with sqlite3.connect(db_file) as conn:
        try:
            return conn.execute("SELECT count(*) FROM user").fetchone()[0] == 0
        except sqlite3.OperationalError:
            return True
