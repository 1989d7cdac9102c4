"""Noticing container exits at once, without asking the engine over and over.

Podman's ``conmon`` writes ``<exits dir>/<container id>`` (holding the exit code) the moment a
container's process ends; podman removes it again shortly after. Watching that directory with
inotify tells the node about an exit within a millisecond and costs nothing while containers
run. This is the backend's :class:`~vantage6_node.runtime.base.ExitNotifier`: a shortcut, not
the source of truth (the node still asks the engine, less often, and the engine's answer wins).
Where the directory is unknown the watcher is simply unavailable.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ctypes.util
import logging
import os
import struct
from pathlib import Path

log = logging.getLogger(__name__)

IN_CLOSE_WRITE = 0x00000008
IN_MOVED_TO = 0x00000080
IN_CLOEXEC = 0o2000000
IN_NONBLOCK = 0o4000
_EVENT = struct.Struct("iIII")


def podman_exits_dir() -> Path | None:
    """Where conmon writes exit files for this user's podman, if it exists."""
    candidates = []
    if os.geteuid() == 0:
        candidates.append(Path("/run/libpod/exits"))
    runtime_dir = os.environ.get("XDG_RUNTIME_DIR") or f"/run/user/{os.geteuid()}"
    candidates.append(Path(runtime_dir) / "libpod" / "tmp" / "exits")
    for path in candidates:
        if path.is_dir():
            return path
    return None


class ExitWatcher:
    """Futures that resolve when a container's exit file appears."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._fd = -1
        self._waiters: dict[str, list[asyncio.Future[int | None]]] = {}
        self._loop: asyncio.AbstractEventLoop | None = None

    @classmethod
    def for_podman(cls) -> ExitWatcher | None:
        directory = podman_exits_dir()
        if directory is None:
            return None
        watcher = cls(directory)
        try:
            watcher.start()
        except OSError as exc:
            log.info("exit watcher unavailable: %s", exc)
            return None
        return watcher

    def start(self) -> None:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        fd = libc.inotify_init1(IN_NONBLOCK | IN_CLOEXEC)
        if fd < 0:
            raise OSError(ctypes.get_errno(), "inotify_init1 failed")
        # a file is complete when closed after writing (or renamed into place)
        wd = libc.inotify_add_watch(fd, os.fsencode(self.directory), IN_CLOSE_WRITE | IN_MOVED_TO)
        if wd < 0:
            err = ctypes.get_errno()
            os.close(fd)
            raise OSError(err, f"inotify_add_watch({self.directory}) failed")
        self._fd = fd
        self._loop = asyncio.get_running_loop()
        self._loop.add_reader(fd, self._read)

    def close(self) -> None:
        if self._fd >= 0:
            with contextlib.suppress(Exception):
                assert self._loop is not None
                self._loop.remove_reader(self._fd)
            os.close(self._fd)
            self._fd = -1
        for futures in self._waiters.values():
            for future in futures:
                if not future.done():
                    future.set_result(None)
        self._waiters.clear()

    def _read(self) -> None:
        try:
            data = os.read(self._fd, 65536)
        except BlockingIOError:
            return
        offset = 0
        while offset + _EVENT.size <= len(data):
            _wd, _mask, _cookie, length = _EVENT.unpack_from(data, offset)
            offset += _EVENT.size
            name = data[offset : offset + length].rstrip(b"\0").decode(errors="replace")
            offset += length
            self._fire(name)

    def _fire(self, name: str) -> None:
        if name not in self._waiters:
            return
        code = self._read_code(name)
        for future in self._waiters.pop(name, []):
            if not future.done():
                future.set_result(code)

    def _read_code(self, name: str) -> int | None:
        try:
            return int((self.directory / name).read_text().strip())
        except (OSError, ValueError):
            return None

    def exited(self, container_id: str) -> asyncio.Future[int | None]:
        """A future resolved (with the exit code, if it could be read) when it exits.

        Resolves at once when the exit file is already there.
        """
        assert self._loop is not None
        future: asyncio.Future[int | None] = self._loop.create_future()
        if (self.directory / container_id).exists():
            future.set_result(self._read_code(container_id))
            return future
        self._waiters.setdefault(container_id, []).append(future)
        return future

    def forget(self, container_id: str, future: asyncio.Future[int | None]) -> None:
        futures = self._waiters.get(container_id)
        if futures and future in futures:
            futures.remove(future)
            if not futures:
                self._waiters.pop(container_id, None)
