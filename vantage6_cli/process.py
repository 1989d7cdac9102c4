"""Background processes of instances: start, stop, status and logs.

``start`` runs the program in its own session with stdout/stderr appended to the instance's
log file and records ``{"pid", "started", "argv"}`` in its pid file. A pid file whose process
is gone (or whose pid now belongs to another program) counts as stopped.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vantage6_cli.errors import STATE, CliError
from vantage6_cli.instances import SERVICES, Instance


@dataclass
class ProcessState:
    running: bool
    pid: int | None = None
    started: float | None = None
    stale: bool = False  # a pid file was left behind by a process that is gone

    @property
    def label(self) -> str:
        if self.running:
            return "running"
        return "crashed" if self.stale else "stopped"


def _read_pid_file(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and isinstance(data.get("pid"), int) else None


def _alive(pid: int, config_file: Path) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    cmdline = Path(f"/proc/{pid}/cmdline")
    if cmdline.exists():
        try:
            args = cmdline.read_bytes().split(b"\0")
        except OSError:
            return True
        if not args or args == [b""]:
            return False  # a zombie
        return str(config_file).encode() in args
    return True


def state(instance: Instance) -> ProcessState:
    data = _read_pid_file(instance.pid_file)
    if data is None:
        return ProcessState(running=False)
    pid = data["pid"]
    if _alive(pid, instance.config_file):
        return ProcessState(True, pid, data.get("started"))
    return ProcessState(False, pid, data.get("started"), stale=True)


#: the program (``python -m MODULE``) of each kind; servers and stores take the same options
PROGRAMS = {"server": "vantage6_server", "store": "vantage6_store", "node": "vantage6_node"}


def command_for(instance: Instance, settings: Any = None) -> list[str]:
    """The command line that runs ``instance``; a server's or store's ``settings`` are passed
    as options too."""
    argv = [sys.executable, "-m", PROGRAMS[instance.kind], "--config", str(instance.config_file)]
    if instance.kind not in SERVICES:
        return [*argv, "--status-file", str(instance.status_file)]
    if settings is not None:
        argv += [
            "--host",
            settings.host,
            "--port",
            str(settings.port),
            "--database-uri",
            settings.database_uri,
        ]
    return argv


def start(
    instance: Instance,
    argv: Sequence[str],
    env: Mapping[str, str] | None = None,
    ready: Callable[[], bool] | None = None,
    timeout: float = 60.0,
    settle: float = 1.5,
    explain: Callable[[int | None], CliError | None] | None = None,
) -> ProcessState:
    """Start ``argv`` in the background for ``instance``.

    Waits until ``ready()`` is true (or, without ``ready``, for ``settle`` seconds) and fails
    when the process exits first or is not ready within ``timeout`` (then it is stopped).
    ``explain(exit_code)`` (``None`` for a timeout) may give the error to raise; by default
    the error shows the end of the log.
    """
    current = state(instance)
    if current.running:
        raise CliError(
            f"{instance.label} is already running (pid {current.pid})",
            STATE,
            hint=f"stop it first with: v6 {instance.kind} stop {ref(instance)}",
        )
    instance.data_dir.mkdir(parents=True, exist_ok=True)
    log_offset = instance.log_file.stat().st_size if instance.log_file.exists() else 0
    with open(instance.log_file, "ab") as log:
        log.write(f"\n===== {time.strftime('%Y-%m-%d %H:%M:%S')} start =====\n".encode())
        log.flush()
        process = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
            cwd=str(instance.data_dir),
            start_new_session=True,
        )
    record = {"pid": process.pid, "started": time.time(), "argv": list(argv)}
    instance.pid_file.write_text(json.dumps(record))
    deadline = time.monotonic() + (timeout if ready else settle)
    while True:
        code = process.poll()
        if code is not None:
            instance.pid_file.unlink(missing_ok=True)
            explained = explain(code) if explain is not None else None
            if explained is not None:
                raise explained
            raise CliError(
                f"{instance.label} exited right after starting (exit code {code}); "
                f"last lines of {instance.log_file}:\n{tail_text(instance.log_file, log_offset)}",
                STATE if code == 5 else 1,
            )
        if ready is not None and ready():
            break
        if time.monotonic() >= deadline:
            if ready is None:
                break
            explained = explain(None) if explain is not None else None
            stop_pid(process.pid)
            instance.pid_file.unlink(missing_ok=True)
            if explained is not None:
                raise explained
            from vantage6_cli.errors import TIMEOUT

            raise CliError(
                f"{instance.label} did not become ready within {timeout:g} s; last lines of "
                f"{instance.log_file}:\n{tail_text(instance.log_file, log_offset)}",
                TIMEOUT,
            )
        time.sleep(0.2)
    return ProcessState(True, process.pid, record["started"])


def ref(instance: Instance) -> str:
    if instance.scope == "file":
        return f"-c {instance.config_file}"
    if instance.scope == "system":
        return f"{instance.name} --system"
    return instance.name


def stop_pid(pid: int, timeout: float = 20.0) -> bool:
    """SIGTERM the process group of ``pid``, SIGKILL after ``timeout``; True if it ended."""
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            return True
        except PermissionError:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                return True
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if not _pid_exists(pid):
                return True
            time.sleep(0.1)
    return not _pid_exists(pid)


def _pid_exists(pid: int) -> bool:
    try:
        # reap it if it is our child (tests start and stop in one process)
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done == pid:
            return False
    except ChildProcessError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    status = Path(f"/proc/{pid}/status")
    try:
        for line in status.read_text().splitlines():
            if line.startswith("State:"):
                return "Z" not in line.split()[1]
    except OSError:
        return False
    return True


def stop(instance: Instance, timeout: float = 20.0) -> ProcessState:
    """Stop the instance; returns the state it was in before."""
    before = state(instance)
    if before.running and before.pid is not None:
        if not stop_pid(before.pid, timeout):
            raise CliError(f"{instance.label} (pid {before.pid}) did not stop", STATE)
    instance.pid_file.unlink(missing_ok=True)
    return before


def tail_text(path: Path, offset: int = 0, lines: int = 25) -> str:
    try:
        with open(path, "rb") as fp:
            fp.seek(offset)
            text = fp.read().decode("utf-8", "replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.rstrip().splitlines()[-lines:]) or "(empty log)"


def print_log(path: Path, lines: int | None, follow: bool, alive: Callable[[], bool]) -> None:
    """Print the log (last ``lines`` lines, all when None); with ``follow`` keep printing new
    lines until interrupted or the process has ended."""
    out = sys.stdout
    try:
        fp = open(path, "rb")  # noqa: SIM115 - closed below
    except FileNotFoundError:
        if not follow:
            raise CliError(f"there is no log yet ({path})", 4) from None
        while not path.exists():
            if not alive():
                return
            time.sleep(0.2)
        fp = open(path, "rb")  # noqa: SIM115
    with fp:
        data = fp.read()
        text = data.decode("utf-8", "replace")
        if lines is not None:
            text = "\n".join(text.splitlines()[-lines:]) + ("\n" if text else "")
        out.write(text)
        out.flush()
        if not follow:
            return
        idle_checks = 0
        while True:
            chunk = fp.read()
            if chunk:
                out.write(chunk.decode("utf-8", "replace"))
                out.flush()
                idle_checks = 0
                continue
            idle_checks += 1
            if idle_checks % 10 == 0 and not alive():
                return
            time.sleep(0.1)
