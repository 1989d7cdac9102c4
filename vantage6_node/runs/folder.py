"""The per-run folder on the node's disk and the run state kept in it.

Layout (``<task_dir>/runs/<run id>/``)::

    state.json   what the node knows about the run (survives node restarts)
    io/          mounted into the algorithm container as /mnt/data: input, output, token
    tmp/         mounted as /mnt/tmp
    log.txt      the algorithm's final log
    report.json  the outcome waiting to be delivered to the server (removed once delivered)

The run folder itself is private to the node user (0700); a container only sees the ``io``
and ``tmp`` folders of its own run. Everything in those two can be written by the container
and is touched only through :mod:`vantage6_node.runs.safe_files`.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from vantage6_node.config import DEFAULT_MAX_OUTPUT
from vantage6_node.runs import safe_files
from vantage6_node.runs.safe_files import UnsafeFile

#: lifecycle phases, in order
PHASE_RECEIVED = "received"  # known, not started (or to be started again)
PHASE_STARTING = "starting"  # preparing files, image, containers
PHASE_RUNNING = "running"  # algorithm container started
PHASE_REPORTING = "reporting"  # finished; report on disk, not yet accepted by the server
PHASE_DONE = "done"  # the server has the outcome; only state.json remains

#: where the run's files appear inside the algorithm container
CONTAINER_DATA_DIR = "/mnt/data"
CONTAINER_TMP_DIR = "/mnt/tmp"
CONTAINER_DB_DIR = "/mnt/db"
#: a container token is a JWT of a few hundred bytes
MAX_TOKEN_BYTES = 64 * 1024


def write_atomic(path: Path, data: bytes, mode: int = 0o600, durable: bool = True) -> None:
    """Write a file so that readers (and a crash) see either the old or the new content.

    ``durable`` also flushes it to disk (survives a power cut, not only a process crash).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            if durable:
                os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


@dataclass
class RunState:
    """What the node remembers about one run."""

    run_id: int
    task_id: int
    image: str
    job_id: int | None = None
    parent_id: int | None = None
    collaboration_id: int | None = None
    init_org_id: int | None = None
    init_user_id: int | None = None
    store_id: int | None = None
    #: what the container runs when the policies pinned the image to a digest (else ``image``)
    run_image: str | None = None
    databases: list[dict[str, Any]] = field(default_factory=list)
    phase: str = PHASE_RECEIVED
    status: str | None = None
    container_id: str | None = None
    forwarder_id: str | None = None
    socket_dir: str | None = None
    attempts: int = 0
    kill_requested: bool = False
    input_scheme: str | None = None
    exit_code: int | None = None
    started_at: str | None = None
    finished_at: str | None = None
    #: input and result are blobs in the server's store (``run.blob_storage_used``)
    blob_storage_used: bool = False
    #: the uploaded result blob's id (kept so that a repeated delivery does not upload again)
    result_blob: str | None = None
    #: how the run reached this node: "offer", "new_task" or "sync"
    source: str | None = None
    #: wall-clock times (epoch seconds) of lifecycle steps, for measurements
    timings: dict[str, float] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunState:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Report:
    """The outcome of a run as it will be sent with ``PATCH /run/{id}``.

    The result is kept as plaintext bytes on disk (in ``io/output``) and encrypted only at
    delivery, when the receiver's public key is known.
    """

    status: str
    finished_at: str
    log: str = ""
    has_result: bool = False
    started_at: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Report:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


class RunFolder:
    """Files of one run."""

    def __init__(self, root: Path, run_id: int) -> None:
        self.run_id = run_id
        self.path = root / f"{run_id:09d}"

    # paths -------------------------------------------------------------------------------------
    @property
    def state_file(self) -> Path:
        return self.path / "state.json"

    @property
    def io_dir(self) -> Path:
        return self.path / "io"

    @property
    def tmp_dir(self) -> Path:
        return self.path / "tmp"

    @property
    def input_file(self) -> Path:
        return self.io_dir / "input"

    @property
    def output_file(self) -> Path:
        return self.io_dir / "output"

    @property
    def staged_input(self) -> Path:
        """Where a blob input is downloaded to (the node's, outside what containers see)."""
        return self.path / "input.blob"

    @property
    def token_file(self) -> Path:
        return self.io_dir / "token"

    @property
    def log_file(self) -> Path:
        return self.path / "log.txt"

    @property
    def report_file(self) -> Path:
        return self.path / "report.json"

    def exists(self) -> bool:
        return self.state_file.is_file()

    # lifecycle -----------------------------------------------------------------------------------
    def create(self, owner: tuple[int, int] | None = None) -> None:
        """Make the folder tree (idempotent).

        ``owner`` (uid, gid) is the user algorithm containers run as: it gets the temporary
        folder (when the node may change owners, i.e. runs as root); otherwise that folder is
        writable for everyone (the 0700 run folder keeps other host users out). ``io`` stays
        the node's: a container can write its output file but not replace or add files there.
        """
        self.path.mkdir(parents=True, exist_ok=True)
        os.chmod(self.path, 0o700)
        owner = _usable_owner(owner)
        with safe_files.walk_to(self.path) as fd:
            safe_files.make_dir(fd, "io", 0o755)
            safe_files.make_dir(fd, "tmp", 0o700 if owner else 0o777, owner)

    def prepare_io(
        self, input_data: bytes | Path, token: str, owner: tuple[int, int] | None = None
    ) -> None:
        """Write input and token and an empty output file, replacing earlier attempts.

        ``input_data`` is the input itself or a file of the node's (a downloaded blob, see
        :attr:`staged_input`) moved into place. Whatever an earlier attempt's container left in
        ``io`` and ``tmp`` is removed without following links. Not flushed to disk: after a
        crash before the container ran, the run starts afresh.
        """
        self.create(owner)
        owner = _usable_owner(owner)
        readable, writable = (0o400, 0o600) if owner else (0o644, 0o666)
        with safe_files.walk_to(self.path, "io") as io_fd:
            safe_files.clear_dir(io_fd)
            if isinstance(input_data, Path):
                safe_files.move_in(io_fd, "input", input_data, readable, owner)
            else:
                safe_files.write_new(io_fd, "input", input_data, readable, owner)
            safe_files.write_new(io_fd, "token", token.encode("ascii"), readable, owner)
            safe_files.write_new(io_fd, "output", b"", writable, owner)
        with safe_files.walk_to(self.path, "tmp") as tmp_fd:
            safe_files.clear_dir(tmp_fd)

    def save_state(self, state: RunState, durable: bool = False) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        write_atomic(
            self.state_file, json.dumps(state.to_dict(), indent=1).encode(), durable=durable
        )

    def load_state(self) -> RunState | None:
        try:
            return RunState.from_dict(json.loads(self.state_file.read_text()))
        except (OSError, ValueError, TypeError):
            return None

    def save_report(self, report: Report, log: str) -> None:
        """Keep the outcome until the server has it.

        Written without waiting for the disk (the run is delivered meanwhile); call
        :meth:`flush_report` afterwards to make it survive a power cut as well.
        """
        write_atomic(self.log_file, log.encode("utf-8", "replace"), durable=False)
        write_atomic(self.report_file, json.dumps(report.to_dict()).encode(), durable=False)

    def flush_report(self) -> None:
        """Flush the outcome (report, log, output, state) to disk."""
        safe_files.fsync_file(self.path, "io", "output")
        for path in (self.log_file, self.report_file, self.state_file):
            with contextlib.suppress(OSError):
                fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
                try:
                    os.fsync(fd)
                finally:
                    os.close(fd)
        with contextlib.suppress(OSError):
            fd = os.open(self.path, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)

    def load_report(self) -> Report | None:
        try:
            report = Report.from_dict(json.loads(self.report_file.read_text()))
        except (OSError, ValueError, TypeError):
            return None
        try:
            report.log = self.log_file.read_text(encoding="utf-8", errors="replace")
        except OSError:
            report.log = ""
        return report

    def output_size(self, max_bytes: int = DEFAULT_MAX_OUTPUT) -> int:
        """Size of the output file; ``UnsafeFile`` when it is no plain file within the limit."""
        try:
            with (
                safe_files.walk_to(self.path, "io") as fd,
                safe_files.open_regular(fd, "output", max_bytes) as (_, size),
            ):
                return size
        except OSError as exc:
            raise UnsafeFile(f"output cannot be opened safely: {exc.strerror}") from exc

    def read_output(self, max_bytes: int = DEFAULT_MAX_OUTPUT) -> bytes:
        """The output file's content; ``UnsafeFile`` when it is no plain file within the limit."""
        return safe_files.read_file(self.path, "io", "output", max_bytes=max_bytes)

    @contextlib.contextmanager
    def output_chunks(self, max_bytes: int) -> Iterator[Iterator[bytes]]:
        """The output file in pieces, for results too large to hold (``UnsafeFile`` when it
        is no plain file within the limit, raised on entry or while reading)."""
        try:
            with safe_files.walk_to(self.path, "io") as fd:
                chunks = safe_files.iter_regular(fd, "output", max_bytes)
                with contextlib.closing(chunks):
                    yield chunks
        except OSError as exc:
            raise UnsafeFile(f"output cannot be opened safely: {exc.strerror}") from exc

    def read_token(self) -> str:
        """The container token of the current attempt (``UnsafeFile`` if it was tampered with)."""
        data = safe_files.read_file(self.path, "io", "token", max_bytes=MAX_TOKEN_BYTES)
        return data.decode("ascii", "replace").strip()

    def clear_report(self) -> None:
        with contextlib.suppress(OSError):
            self.report_file.unlink()

    def remove_payload(self) -> None:
        """Delete everything but ``state.json`` (after the server has the outcome)."""
        for child in (self.io_dir, self.tmp_dir):
            safe_files.remove_tree(child)
        for child in (self.log_file, self.report_file, self.staged_input):
            with contextlib.suppress(OSError):
                child.unlink()

    def remove(self) -> None:
        safe_files.remove_tree(self.path)


def _usable_owner(owner: tuple[int, int] | None) -> tuple[int, int] | None:
    """``owner`` when this process may give files away (it runs as root), else None."""
    return owner if owner is not None and os.geteuid() == 0 else None


class RunStore:
    """All run folders of a node."""

    def __init__(self, task_dir: Path) -> None:
        self.root = Path(task_dir) / "runs"
        self.root.mkdir(parents=True, exist_ok=True)
        os.chmod(self.root, 0o700)

    def folder(self, run_id: int) -> RunFolder:
        return RunFolder(self.root, run_id)

    def all_states(self) -> list[RunState]:
        states = []
        for child in sorted(self.root.iterdir()):
            if not child.is_dir() or not child.name.isdigit():
                continue
            state = RunFolder(self.root, int(child.name)).load_state()
            if state is not None:
                states.append(state)
        return states
