"""Host-side access to files an algorithm container can write, without trusting them.

Everything a container can write (its output file, its temporary folder, anything mounted
read-write) is hostile: it may be a symbolic link to a host file, a hard link, a FIFO that
blocks a reader forever, a device, or far too large. The node touches such paths only through
this module:

* every path is opened one component at a time relative to a directory descriptor, with
  ``O_NOFOLLOW`` (a link is refused, never followed) and ``O_NONBLOCK`` (a FIFO cannot block);
* a file must be a regular file with a single link (``lstat`` before the open, ``fstat`` of
  the open descriptor after it, same inode), and is read only up to a size limit;
* folders are emptied and removed with descriptor-based calls that never follow links;
* files the node puts there are created with ``O_EXCL | O_NOFOLLOW`` and their mode and owner
  set through the descriptor.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
from collections.abc import Iterator
from pathlib import Path

_BASE = getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOCTTY", 0)
_READ = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | _BASE
_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | _BASE
_CREATE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | _BASE

if not shutil.rmtree.avoids_symlink_attacks:  # pragma: no cover - Linux always has it
    raise ImportError("this platform's shutil.rmtree can follow symbolic links")


class UnsafeFile(Exception):
    """A container-written path is not a plain file the node may read (the message says why)."""


def _name(name: str) -> str:
    if not name or name in (".", "..") or "/" in name or "\0" in name:
        raise ValueError(f"not a single path component: {name!r}")
    return name


def _kind(mode: int) -> str:
    for test, word in (
        (stat.S_ISLNK, "a symbolic link"),
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
    ):
        if test(mode):
            return word
    return "not a regular file"


@contextlib.contextmanager
def walk_to(root: Path, *parts: str) -> Iterator[int]:
    """A descriptor of ``root/parts...``, each part opened relative to the one before.

    ``root`` is a folder of the node's own (not writable by containers); no part may be a
    link.
    """
    with contextlib.ExitStack() as stack:
        fd = os.open(root, _DIR)
        stack.callback(os.close, fd)
        for part in parts:
            fd = os.open(_name(part), _DIR, dir_fd=fd)
            stack.callback(os.close, fd)
        yield fd


@contextlib.contextmanager
def open_regular(dir_fd: int, name: str, max_bytes: int) -> Iterator[tuple[int, int]]:
    """``(descriptor, size)`` of the regular file ``name`` in ``dir_fd``; else ``UnsafeFile``."""
    name = _name(name)
    try:
        before = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError as exc:
        raise UnsafeFile(f"{name} is missing") from exc
    if not stat.S_ISREG(before.st_mode):
        raise UnsafeFile(f"{name} is {_kind(before.st_mode)}, not a regular file")
    try:
        fd = os.open(name, _READ, dir_fd=dir_fd)
    except OSError as exc:
        raise UnsafeFile(f"{name} cannot be opened safely: {exc.strerror}") from exc
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or (st.st_dev, st.st_ino) != (
            before.st_dev,
            before.st_ino,
        ):
            raise UnsafeFile(f"{name} was replaced while the node opened it")
        if st.st_nlink != 1:
            raise UnsafeFile(f"{name} has {st.st_nlink} hard links (a plain file has one)")
        if st.st_size > max_bytes:
            raise UnsafeFile(f"{name} has {st.st_size} bytes, more than the limit of {max_bytes}")
        yield fd, st.st_size
    finally:
        os.close(fd)


def read_regular(dir_fd: int, name: str, max_bytes: int) -> bytes:
    """The content of the regular file ``name`` in ``dir_fd`` (at most ``max_bytes``)."""
    with open_regular(dir_fd, name, max_bytes) as (fd, _size):
        chunks: list[bytes] = []
        total = 0
        while True:
            chunk = os.read(fd, min(1 << 20, max_bytes + 1 - total) or 1)
            if not chunk:
                break
            total += len(chunk)
            if total > max_bytes:
                raise UnsafeFile(f"{name} grew beyond the limit of {max_bytes} bytes")
            chunks.append(chunk)
        return b"".join(chunks)


def iter_regular(dir_fd: int, name: str, max_bytes: int, chunk: int = 1 << 20) -> Iterator[bytes]:
    """The content of the regular file ``name`` in ``dir_fd`` in pieces (at most
    ``max_bytes``), for files too large to hold in memory."""
    with open_regular(dir_fd, name, max_bytes) as (fd, _size):
        total = 0
        while True:
            piece = os.read(fd, min(chunk, max_bytes + 1 - total) or 1)
            if not piece:
                return
            total += len(piece)
            if total > max_bytes:
                raise UnsafeFile(f"{name} grew beyond the limit of {max_bytes} bytes")
            yield piece


def read_file(root: Path, *parts: str, max_bytes: int) -> bytes:
    """``read_regular`` of ``root/parts...`` (every directory on the way opened safely)."""
    *dirs, name = parts
    try:
        with walk_to(root, *dirs) as fd:
            return read_regular(fd, name, max_bytes)
    except UnsafeFile:
        raise
    except OSError as exc:
        raise UnsafeFile(f"{'/'.join(parts)} cannot be opened safely: {exc.strerror}") from exc


def fsync_file(root: Path, *parts: str) -> None:
    """Flush a container-written regular file to disk (nothing happens for anything else)."""
    *dirs, name = parts
    with contextlib.suppress(OSError, UnsafeFile), walk_to(root, *dirs) as fd:
        with open_regular(fd, name, 1 << 62) as (file_fd, _):
            os.fsync(file_fd)


def write_new(
    dir_fd: int, name: str, data: bytes, mode: int, owner: tuple[int, int] | None = None
) -> None:
    """Create ``name`` in ``dir_fd`` (removing what was there first, never following it)."""
    name = _name(name)
    remove_entry(dir_fd, name)
    fd = os.open(name, _CREATE, 0o600, dir_fd=dir_fd)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        if owner is not None:
            os.fchown(fd, *owner)
        os.fchmod(fd, mode)
    finally:
        os.close(fd)


def move_in(
    dir_fd: int, name: str, source: Path, mode: int, owner: tuple[int, int] | None = None
) -> None:
    """Move the node's own file ``source`` to ``name`` in ``dir_fd`` (replacing what was
    there, never following it), then set its mode and owner through a descriptor."""
    name = _name(name)
    remove_entry(dir_fd, name)
    os.rename(source, name, dst_dir_fd=dir_fd)
    fd = os.open(name, _READ, dir_fd=dir_fd)
    try:
        if owner is not None:
            os.fchown(fd, *owner)
        os.fchmod(fd, mode)
    finally:
        os.close(fd)


def make_dir(dir_fd: int, name: str, mode: int, owner: tuple[int, int] | None = None) -> None:
    """Make sure ``name`` in ``dir_fd`` is a real directory with this mode and owner."""
    name = _name(name)
    with contextlib.suppress(FileExistsError):
        os.mkdir(name, 0o700, dir_fd=dir_fd)
    try:
        sub = os.open(name, _DIR, dir_fd=dir_fd)
    except OSError:  # a link or a file in its place: replace it
        remove_entry(dir_fd, name)
        os.mkdir(name, 0o700, dir_fd=dir_fd)
        sub = os.open(name, _DIR, dir_fd=dir_fd)
    try:
        if owner is not None:
            os.fchown(sub, *owner)
        os.fchmod(sub, mode)
    finally:
        os.close(sub)


def remove_entry(dir_fd: int, name: str) -> None:
    """Remove ``name`` in ``dir_fd`` whatever it is (a folder with all it holds); no links
    are followed."""
    name = _name(name)
    try:
        st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return
    if stat.S_ISDIR(st.st_mode):
        shutil.rmtree(name, dir_fd=dir_fd, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(name, dir_fd=dir_fd)


def clear_dir(dir_fd: int) -> None:
    """Remove everything in the directory ``dir_fd`` (not following any link)."""
    for name in os.listdir(dir_fd):
        with contextlib.suppress(OSError):
            remove_entry(dir_fd, name)


def remove_tree(path: Path) -> None:
    """Remove the folder ``path`` (a path of the node's own) and all it holds, following no
    link inside it."""
    with contextlib.suppress(OSError):
        parent = os.open(path.parent, _DIR)
        try:
            remove_entry(parent, path.name)
        finally:
            os.close(parent)
