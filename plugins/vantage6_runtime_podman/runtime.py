"""``ContainerRuntime`` on top of the podman CLI.

Every call is one ``podman`` process. ``CONTAINERS_CONF`` is set to the project's file for those
processes when the caller has not set it (see :mod:`vantage6_runtime_podman.environ`).

A node opens podman through :meth:`PodmanRuntime.for_node`: by default through a private
``podman system service`` (see :mod:`vantage6_runtime_podman.served`).

Environment values for containers are handed to podman through its own environment
(``--env NAME`` without a value), so secrets never show up on a command line.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from vantage6_node.runtime.base import (
    ContainerInfo,
    ContainerNotFound,
    ContainerRuntime,
    ContainerRuntimeError,
    ContainerStartError,
    ImageInfo,
    ImageNotFound,
    ImagePullError,
    NetworkError,
    RunSpec,
    RuntimeUnavailable,
    WaitTimeout,
    label_filters,
    normalise_state,
)
from vantage6_runtime_podman.environ import podman_environ
from vantage6_runtime_podman.exits import ExitWatcher
from vantage6_runtime_podman.logfiles import LogFiles

_NOT_FOUND_CONTAINER = ("no such container", "no container with name or id")
_NOT_FOUND_IMAGE = ("image not known", "no such image")
_NOT_RUNNING = ("can only kill running containers", "not running", "is not running")
# variables podman itself relies on; container values for these go on the command line instead
_PODMAN_OWN_ENV_PREFIXES = ("CONTAINERS_", "XDG_", "LC_", "PODMAN_", "BUILDAH_", "STORAGE_")


def _lower(text: str) -> str:
    return text.lower()


def _check_path(value: str, what: str) -> str:
    if "," in value:
        raise ContainerStartError(f"{what} may not contain ',': {value!r}")
    return value


class PodmanRuntime(ContainerRuntime):
    """Podman through its CLI.

    Options: ``podman`` (executable, default found on PATH), ``containers_conf`` (path; default
    the caller's ``CONTAINERS_CONF`` or the project's file), ``global_args`` (extra arguments put
    before every subcommand, e.g. ``["--root", DIR]``), ``env`` (extra environment for podman,
    e.g. ``CONTAINERS_REGISTRIES_CONF``), ``command_timeout`` (seconds for ordinary calls),
    ``pull_timeout``. ``service`` (default true) only matters to :meth:`for_node`: a node's
    ``runtime_options`` also open podman for one-off use (the CLI's clean-up).
    """

    name = "podman"
    preference = 10  # daemonless and rootless: the default where it is installed
    install_hint = (
        "install podman (Debian/Ubuntu: sudo apt-get install podman runc; this project's "
        "containers/setup.sh does that and configures it), or run scripts/install.sh"
    )
    blocking_wait = True  # ``podman wait`` is one process per container, not one per look

    @classmethod
    def for_node(cls, private_dir: Path, log_dir: Path, **options: Any) -> ContainerRuntime:
        """Podman for a node: through a private API service unless ``service: false``."""
        if not options.pop("service", True):
            return cls(**options)
        from vantage6_runtime_podman.served import open_served

        return open_served(cls, private_dir, log_dir, options)

    def __init__(
        self,
        podman: str | None = None,
        containers_conf: str | None = None,
        global_args: Sequence[str] = (),
        env: Mapping[str, str] | None = None,
        command_timeout: float = 120.0,
        pull_timeout: float = 900.0,
        service: bool = True,
    ) -> None:
        del service  # see for_node
        self._podman = podman or shutil.which("podman") or "podman"
        base_env = podman_environ()
        if containers_conf:
            base_env["CONTAINERS_CONF"] = str(containers_conf)
        base_env.update(env or {})
        self._env = base_env
        self._global_args = list(global_args)
        self._timeout = command_timeout
        self._pull_timeout = pull_timeout

    @property
    def environment(self) -> dict[str, str]:
        """The environment podman runs with (a copy)."""
        return dict(self._env)

    # -- plumbing ------------------------------------------------------------------------------

    def _argv(self, args: Sequence[str]) -> list[str]:
        return [self._podman, *self._global_args, *args]

    def _call(
        self,
        args: Sequence[str],
        *,
        timeout: float | None = -1.0,
        env: Mapping[str, str] | None = None,
        merge_stderr: bool = False,
    ) -> subprocess.CompletedProcess[bytes]:
        if timeout == -1.0:
            timeout = self._timeout
        try:
            return subprocess.run(
                self._argv(args),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT if merge_stderr else subprocess.PIPE,
                env=dict(env) if env is not None else self._env,
                timeout=timeout,
                check=False,
            )
        except FileNotFoundError as exc:
            raise RuntimeUnavailable(f"podman executable not found: {self._podman}") from exc

    @staticmethod
    def _err(proc: subprocess.CompletedProcess[bytes]) -> str:
        text = (proc.stderr or b"").decode("utf-8", "replace").strip()
        if not text:
            text = (proc.stdout or b"").decode("utf-8", "replace").strip()
        return text

    def _json(self, args: Sequence[str]) -> object:
        proc = self._call(args)
        if proc.returncode != 0:
            raise ContainerRuntimeError(f"podman {' '.join(args)}: {self._err(proc)}")
        out = proc.stdout.decode("utf-8", "replace").strip()
        return json.loads(out) if out else None

    # -- engine --------------------------------------------------------------------------------

    def is_available(self) -> bool:
        try:
            proc = self._call(["version", "--format", "{{.Client.Version}}"], timeout=30)
        except (RuntimeUnavailable, subprocess.TimeoutExpired, OSError):
            return False
        return proc.returncode == 0

    # -- images --------------------------------------------------------------------------------

    def image_info(self, image: str) -> ImageInfo | None:
        proc = self._call(["image", "inspect", "--format", "json", image])
        if proc.returncode != 0:
            err = _lower(self._err(proc))
            if any(marker in err for marker in _NOT_FOUND_IMAGE):
                return None
            raise ContainerRuntimeError(f"podman image inspect {image}: {self._err(proc)}")
        data = json.loads(proc.stdout or b"[]")
        if not data:
            return None
        item = data[0]
        labels = item.get("Labels") or (item.get("Config") or {}).get("Labels") or {}
        return ImageInfo(
            id=item.get("Id", ""),
            tags=tuple(item.get("RepoTags") or ()),
            digests=tuple(item.get("RepoDigests") or ()),
            labels=dict(labels),
        )

    def pull(self, image: str) -> ImageInfo:
        try:
            proc = self._call(["pull", "--quiet", image], timeout=self._pull_timeout)
        except subprocess.TimeoutExpired as exc:
            raise ImagePullError(f"pulling {image} timed out") from exc
        if proc.returncode != 0:
            raise ImagePullError(f"pulling {image} failed: {self._err(proc)}")
        info = self.image_info(image)
        if info is None:
            image_id = proc.stdout.decode().strip().splitlines()[-1:] or [image]
            info = self.image_info(image_id[0])
        if info is None:
            raise ImagePullError(f"pulled {image} but cannot find it locally")
        return info

    def remove_image(self, image: str, force: bool = False) -> None:
        args = ["rmi", *(["--force"] if force else []), image]
        proc = self._call(args)
        if proc.returncode != 0:
            err = _lower(self._err(proc))
            if any(marker in err for marker in _NOT_FOUND_IMAGE):
                return
            raise ContainerRuntimeError(f"podman rmi {image}: {self._err(proc)}")

    # -- containers ----------------------------------------------------------------------------

    def _run_args(self, spec: RunSpec) -> tuple[list[str], dict[str, str]]:
        args = ["run", "--detach", "--pull=never", "--cap-drop=all"]
        env = dict(self._env)
        if spec.no_new_privileges:
            args.append("--security-opt=no-new-privileges")
        for cap in spec.cap_add:
            args.append(f"--cap-add={cap}")
        args.append(f"--network={spec.network}")
        if spec.name:
            args.append(f"--name={spec.name}")
        if spec.user:
            args.append(f"--user={spec.user}")
        if spec.working_dir:
            args.append(f"--workdir={spec.working_dir}")
        if spec.entrypoint is not None:
            args.append(f"--entrypoint={json.dumps(list(spec.entrypoint))}")
        if spec.read_only_rootfs:
            # no implicit tmpfs on /tmp, /run: the caller decides with spec.tmpfs
            args += ["--read-only", "--read-only-tmpfs=false"]
        for path, options in spec.tmpfs.items():
            args.append(f"--tmpfs={path}:{options}" if options else f"--tmpfs={path}")
        if spec.cpus is not None:
            args.append(f"--cpus={spec.cpus}")
        if spec.memory is not None:
            args.append(f"--memory={int(spec.memory)}b")
        if spec.pids_limit is not None:
            args.append(f"--pids-limit={int(spec.pids_limit)}")
        for mount in spec.mounts:
            src = _check_path(mount.source, "mount source")
            dst = _check_path(mount.target, "mount target")
            opt = "readonly=true" if mount.read_only else "readonly=false"
            args.append(f"--mount=type=bind,source={src},target={dst},{opt}")
        for key, value in spec.labels.items():
            args.append(f"--label={key}={value}")
        for key, value in spec.env.items():
            if not key or "=" in key or "*" in key:
                raise ContainerStartError(f"invalid environment variable name {key!r}")
            if key in env or key.startswith(_PODMAN_OWN_ENV_PREFIXES):
                args.append(f"--env={key}={value}")
            else:
                # value travels in podman's own environment, not on the command line
                env[key] = value
                args.append(f"--env={key}")
        args.append(spec.image)
        if spec.command is not None:
            args.extend(spec.command)
        return args, env

    def run(self, spec: RunSpec) -> str:
        args, env = self._run_args(spec)
        with tempfile.TemporaryDirectory(prefix="v6-podman-") as tmp:
            # podman writes the id here as soon as the container exists, even if start fails
            cidfile = Path(tmp) / "cid"
            args.insert(1, f"--cidfile={cidfile}")
            proc = self._call(args, env=env)
            created = cidfile.read_text().strip() if cidfile.exists() else ""
        if proc.returncode != 0:
            err = self._err(proc)
            if created:
                self._call(["rm", "--force", "--time=0", created])
            if any(marker in _lower(err) for marker in _NOT_FOUND_IMAGE):
                raise ImageNotFound(f"image {spec.image} is not present locally: {err}")
            raise ContainerStartError(f"starting {spec.image} failed: {err}")
        lines = proc.stdout.decode().strip().splitlines()
        container_id = created or (lines[-1].strip() if lines else "")
        if not container_id:
            raise ContainerStartError(f"podman run printed no container id for {spec.image}")
        return container_id

    def wait(self, container: str, timeout: float | None = None) -> int:
        try:
            proc = self._call(["wait", "--interval=50ms", container], timeout=timeout)
        except subprocess.TimeoutExpired as exc:
            raise WaitTimeout(f"container {container} still running after {timeout}s") from exc
        if proc.returncode != 0:
            err = self._err(proc)
            if any(marker in _lower(err) for marker in _NOT_FOUND_CONTAINER):
                raise ContainerNotFound(err)
            raise ContainerRuntimeError(f"podman wait {container}: {err}")
        out = proc.stdout.decode().strip().splitlines()
        try:
            return int(out[-1])
        except (IndexError, ValueError) as exc:
            raise ContainerRuntimeError(f"podman wait {container} printed {out!r}") from exc

    def logs(self, container: str, stdout: bool = True, stderr: bool = True) -> str:
        # podman logs replays the container's stdout on its stdout and its stderr on its
        # stderr; one shared pipe keeps the interleaving when both are wanted
        if not (stdout or stderr):
            return ""
        proc = self._call(["logs", container], merge_stderr=stdout and stderr)
        if proc.returncode != 0:
            err = self._err(proc)
            if any(marker in _lower(err) for marker in _NOT_FOUND_CONTAINER):
                raise ContainerNotFound(err)
            raise ContainerRuntimeError(f"podman logs {container}: {err}")
        chosen = proc.stdout if stdout else proc.stderr
        return (chosen or b"").decode("utf-8", "replace")

    def stream_logs(self, container: str, follow: bool = True) -> Iterator[str]:
        args = ["logs", *(["--follow"] if follow else []), container]
        try:
            proc = subprocess.Popen(
                self._argv(args),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                env=self._env,
            )
        except FileNotFoundError as exc:
            raise RuntimeUnavailable(f"podman executable not found: {self._podman}") from exc
        return self._iter_lines(proc, container)

    @staticmethod
    def _iter_lines(proc: subprocess.Popen[bytes], container: str) -> Iterator[str]:
        assert proc.stdout is not None
        first = True
        try:
            for raw in proc.stdout:
                line = raw.decode("utf-8", "replace").rstrip("\r\n")
                if first and any(m in line.lower() for m in _NOT_FOUND_CONTAINER):
                    raise ContainerNotFound(line)
                first = False
                yield line
        finally:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
            proc.stdout.close()

    def kill(self, container: str, signal: str = "SIGKILL") -> None:
        proc = self._call(["kill", f"--signal={signal}", container])
        if proc.returncode != 0:
            err = self._err(proc)
            low = _lower(err)
            if any(marker in low for marker in _NOT_RUNNING):
                return
            if any(marker in low for marker in _NOT_FOUND_CONTAINER):
                raise ContainerNotFound(err)
            raise ContainerRuntimeError(f"podman kill {container}: {err}")

    def remove(self, container: str, force: bool = True) -> None:
        args = ["rm", *(["--force", "--time=0"] if force else []), container]
        proc = self._call(args)
        if proc.returncode != 0:
            err = self._err(proc)
            if any(marker in _lower(err) for marker in _NOT_FOUND_CONTAINER):
                return
            raise ContainerRuntimeError(f"podman rm {container}: {err}")

    def inspect(self, container: str) -> ContainerInfo:
        proc = self._call(["container", "inspect", "--format", "json", container])
        if proc.returncode != 0:
            err = self._err(proc)
            if any(marker in _lower(err) for marker in _NOT_FOUND_CONTAINER):
                raise ContainerNotFound(err)
            raise ContainerRuntimeError(f"podman inspect {container}: {err}")
        data = json.loads(proc.stdout or b"[]")
        if not data:
            raise ContainerNotFound(f"no container {container}")
        item = data[0]
        state = item.get("State") or {}
        status = normalise_state(state.get("Status"))
        return ContainerInfo(
            id=item.get("Id", ""),
            name=item.get("Name", ""),
            image=item.get("ImageName") or item.get("Image", ""),
            state=status,
            labels=dict((item.get("Config") or {}).get("Labels") or {}),
            exit_code=int(state.get("ExitCode", 0)) if status in {"exited", "dead"} else None,
        )

    def list_containers(
        self, labels: Mapping[str, str | None] | None = None, all: bool = True
    ) -> list[ContainerInfo]:
        args = ["ps", "--format", "json", "--no-trunc"]
        if all:
            args.append("--all")
        for flt in label_filters(labels):
            args.append(f"--filter=label={flt}")
        data = self._json(args) or []
        result = []
        for item in data:  # type: ignore[union-attr]
            status = normalise_state(item.get("State"))
            names = item.get("Names") or [""]
            result.append(
                ContainerInfo(
                    id=item.get("Id", ""),
                    name=names[0],
                    image=item.get("Image", ""),
                    state=status,
                    labels=dict(item.get("Labels") or {}),
                    exit_code=(
                        int(item.get("ExitCode", 0)) if status in {"exited", "dead"} else None
                    ),
                )
            )
        return result

    # -- networks ------------------------------------------------------------------------------

    def create_network(
        self, name: str, internal: bool = True, labels: Mapping[str, str] | None = None
    ) -> str:
        args = ["network", "create"]
        if internal:
            args.append("--internal")
        for key, value in (labels or {}).items():
            args.append(f"--label={key}={value}")
        args.append(name)
        proc = self._call(args)
        if proc.returncode != 0:
            raise NetworkError(f"podman network create {name}: {self._err(proc)}")
        data = self._json(["network", "inspect", name]) or [{}]
        return str(data[0].get("id") or data[0].get("Id") or name)  # type: ignore[index]

    def remove_network(self, name: str) -> None:
        if not self.network_exists(name):
            return
        proc = self._call(["network", "rm", "--force", name])
        if proc.returncode != 0 and self.network_exists(name):
            raise NetworkError(f"podman network rm {name}: {self._err(proc)}")

    def network_exists(self, name: str) -> bool:
        proc = self._call(["network", "exists", name])
        return proc.returncode == 0

    # -- optional capabilities -----------------------------------------------------------------

    def exit_notifier(self) -> ExitWatcher | None:
        return ExitWatcher.for_podman()

    def log_reader(self) -> LogFiles | None:
        return LogFiles.for_podman(self._argv([]), self._env)

    def image_transfer(self) -> PodmanRuntime:
        return self

    def image_builder(self) -> PodmanRuntime:
        return self

    def _checked(self, args: Sequence[str], timeout: float | None) -> None:
        try:
            proc = self._call(args, timeout=timeout)
        except subprocess.TimeoutExpired as exc:
            raise ContainerRuntimeError(f"podman {args[0]} timed out") from exc
        if proc.returncode != 0:
            raise ContainerRuntimeError(f"podman {args[0]} failed: {self._err(proc)[-3000:]}")

    def save(self, image: str, archive: Path) -> None:
        """``podman save`` in docker-archive format (loadable by any engine)."""
        self._checked(
            ["save", "--quiet", "--format", "docker-archive", "-o", str(archive), image],
            self._pull_timeout,
        )

    def load(self, archive: Path) -> None:
        self._checked(["load", "--quiet", "-i", str(archive)], self._pull_timeout)

    def build(self, context: Path, containerfile: Path, tag: str) -> None:
        self._checked(
            [
                "build",
                "--pull=never",
                "--network=none",
                "-t",
                tag,
                "-f",
                str(containerfile),
                str(context),
            ],
            None,
        )
