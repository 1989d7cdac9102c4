"""A hostile algorithm: tries to make the node read, copy or delete host files for it.

Every attack prints what it did; an attack the container itself prevents prints
``blocked: ...`` and exits with code 3. An attack that got into place exits 0 without
writing an output (``os._exit``), so that the node is left with whatever the attack made.
"""

from __future__ import annotations

import os
import stat
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any


def _say(text: str) -> None:
    print(text, flush=True)


def _blocked(what: str, exc: BaseException) -> None:
    _say(f"blocked: {what}: {exc!r}")
    os._exit(3)


def _replace_output(make: Callable[[str], None], what: str) -> None:
    path = os.environ["OUTPUT_FILE"]
    try:
        os.unlink(path)
    except OSError as exc:
        _blocked("removing the output file", exc)
    try:
        make(path)
    except OSError as exc:
        _blocked(what, exc)
    _say(f"in place: {what}")
    os._exit(0)


def symlink_output(target: str) -> None:
    """Output file -> symbolic link to a host path."""
    _replace_output(lambda p: os.symlink(target, p), f"symlink to {target}")


def hardlink_output(target: str) -> None:
    """Output file -> hard link to a host path, else to this run's own input."""

    def make(path: str) -> None:
        try:
            os.link(target, path)
            return
        except OSError as exc:
            _say(f"hard link to the host path failed: {exc!r}")
        os.link(os.environ["INPUT_FILE"], path)

    _replace_output(make, f"hard link to {target} or the input")


def fifo_output() -> None:
    """Output file -> FIFO (a reader that opens it blocks until a writer comes)."""
    _replace_output(os.mkfifo, "fifo")


def device_output() -> None:
    """Output file -> character device (needs CAP_MKNOD, which containers lack)."""
    _replace_output(lambda p: os.mknod(p, stat.S_IFCHR | 0o666, os.makedev(1, 8)), "device")


def huge_output(size: int) -> None:
    """A (sparse) output file far beyond any sensible size."""
    try:
        with open(os.environ["OUTPUT_FILE"], "r+b") as fh:
            fh.truncate(size)
    except OSError as exc:
        _blocked("growing the output", exc)
    _say(f"in place: output of {size} bytes")
    os._exit(0)


def late_writer(target: str, delay: float = 2.0) -> str:
    """Return a result at once; a forked child swaps the output for a link after the exit."""
    if os.fork() == 0:
        time.sleep(delay)
        for _ in range(50):
            try:
                os.unlink(os.environ["OUTPUT_FILE"])
                os.symlink(target, os.environ["OUTPUT_FILE"])
                Path(os.environ["TEMPORARY_FOLDER"], "late").write_text("child survived")
            except OSError:
                pass
            time.sleep(0.1)
        os._exit(0)
    _say("parent returns")
    return "parent result"


def tmp_links(targets: list[str]) -> str:
    """Links to host paths all over the temporary folder (the node cleans it up later)."""
    tmp = Path(os.environ["TEMPORARY_FOLDER"])
    made = []
    for index, target in enumerate(targets):
        for name in (f"link{index}", f"nest/deeper/link{index}"):
            link = tmp / name
            link.parent.mkdir(parents=True, exist_ok=True)
            os.symlink(target, link)
            made.append(str(link))
    os.symlink("/", tmp / "root")
    made.append(str(tmp / "root"))
    _say(f"made {len(made)} links")
    return "links made"


def probe(paths: list[str]) -> dict[str, Any]:
    """What the container can see: ids, environment, mount table, host paths."""
    out: dict[str, Any] = {"uid": os.getuid(), "gid": os.getgid(), "paths": {}}
    out["environ"] = dict(os.environ)
    try:
        out["mountinfo"] = Path("/proc/self/mountinfo").read_text()
    except OSError as exc:
        out["mountinfo"] = repr(exc)
    for path in paths:
        try:
            out["paths"][path] = Path(path).read_bytes()[:200].decode("utf-8", "replace")
        except OSError as exc:
            out["paths"][path] = f"error: {exc.__class__.__name__}"
    for name in ("input", "token", "output"):
        try:
            out[f"ls_{name}"] = oct(os.stat(f"/mnt/data/{name}").st_mode)
        except OSError as exc:
            out[f"ls_{name}"] = repr(exc)
    try:
        Path("/mnt/data/extra").write_text("x")
        out["io_writable"] = True
    except OSError:
        out["io_writable"] = False
    return out


def env() -> dict[str, str]:
    """The (decoded) environment, for the label tests."""
    _say("algorithm started")
    return dict(os.environ)


def victim(secret: str, seconds: float = 60.0) -> str:
    """An ordinary run whose input holds a secret; says ``ready`` in its temporary folder."""
    Path(os.environ["TEMPORARY_FOLDER"], "ready").write_text("ready")
    time.sleep(seconds)
    return f"kept {len(secret)} characters to myself"
