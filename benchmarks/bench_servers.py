"""Start, probe and stop the two servers that the benchmark compares.

* ``OurServer``: ``python -m vantage6_server`` from this repository.
* ``ReferenceServer``: the published vantage6-server 4.14 in its own Python 3.10
  virtualenv, run under uWSGI with the options its official Docker image uses.

Both listen on 127.0.0.1 on a free port, with a fresh SQLite file each.
"""

from __future__ import annotations

import glob
import http.client
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import yaml

REPO_ROOT = Path(__file__).resolve().parent.parent
REF_PIN = "4.14.*"
REF_PACKAGES = [
    f"vantage6-server=={REF_PIN}",
    f"vantage6-backend-common=={REF_PIN}",
    "uwsgi",
]
DEFAULT_REF_VENV = Path.home() / ".cache" / "vantage6-next" / "v6ref"
# the published algorithm store, in a venv of its own (it pins other Flask versions)
STORE_DIST = "vantage6-algorithm-store"
STORE_PACKAGES = [
    f"{STORE_DIST}=={REF_PIN}",
    f"vantage6-backend-common=={REF_PIN}",
    "uwsgi",
]
DEFAULT_STORE_VENV = Path.home() / ".cache" / "vantage6-next" / "v6store"

sys.path.insert(0, str(REPO_ROOT / "scripts"))
from find_python310 import find_python310  # noqa: E402


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --------------------------------------------------------------------------- machine load


def _cpu_times() -> tuple[int, int]:
    """(busy, total) jiffies over all CPUs from /proc/stat."""
    with open("/proc/stat") as fh:
        values = [int(v) for v in fh.readline().split()[1:]]
    idle = values[3] + (values[4] if len(values) > 4 else 0)  # idle + iowait
    total = sum(values[:8])  # guest time is already counted in user
    return total - idle, total


class cpu_busy_fraction:  # noqa: N801 - used like a function
    """Fraction of all CPUs busy (anything on the machine) between start and ``stop()``."""

    def __init__(self) -> None:
        self._start = _cpu_times()

    def stop(self) -> float:
        busy, total = _cpu_times()
        d_total = total - self._start[1]
        return round((busy - self._start[0]) / d_total, 3) if d_total else 0.0


def wait_for_quiet(threshold: float = 0.15, window_s: float = 2.0, max_wait_s: float = 90.0):
    """Wait (bounded) until the machine is mostly idle; returns the busy fraction seen.

    The benchmark shares the machine with whatever else runs there; figures taken
    while another process burns CPU are not comparable, so the throughput phase
    starts once the busy fraction over ``window_s`` is at most ``threshold``.
    """
    deadline = time.monotonic() + max_wait_s
    while True:
        probe = cpu_busy_fraction()
        time.sleep(window_s)
        busy = probe.stop()
        if busy <= threshold:
            return {"busy_fraction": busy, "waited_out": False}
        if time.monotonic() >= deadline:
            log(f"machine still {busy:.0%} busy after {max_wait_s:.0f}s; measuring anyway")
            return {"busy_fraction": busy, "waited_out": True}
        log(f"machine {busy:.0%} busy; waiting for it to quieten")


# --------------------------------------------------------------------------- reference venv


def _venv_ready(venv: Path, dist: str) -> bool:
    python = venv / "bin" / "python"
    if not (python.exists() and (venv / "bin" / "uwsgi").exists()):
        return False
    probe = subprocess.run(
        [
            str(python),
            "-c",
            "import importlib.metadata as m, sys; "
            f"sys.exit(0 if m.version('{dist}').startswith('4.14.') else 1)",
        ],
        capture_output=True,
    )
    return probe.returncode == 0


def ensure_reference_venv(
    venv: Path,
    log_dir: Path,
    dist: str = "vantage6-server",
    packages: list[str] | None = None,
) -> Path:
    """Return ``venv``, creating or completing it when it lacks ``dist`` 4.14 or uwsgi."""
    if _venv_ready(venv, dist):
        return venv
    log_file = log_dir / f"{venv.name}-install.log"
    log(f"setting up reference venv at {venv} (log: {log_file}); this takes a few minutes")
    venv.parent.mkdir(parents=True, exist_ok=True)
    with open(log_file, "w") as out:
        if not (venv / "bin" / "python").exists():
            subprocess.run(
                [find_python310(), "-m", "venv", str(venv)], stdout=out, stderr=out, check=True
            )
        pip = [str(venv / "bin" / "python"), "-m", "pip"]
        subprocess.run(
            [*pip, "install", "--upgrade", "pip", "setuptools", "wheel"],
            stdout=out,
            stderr=out,
            check=True,
        )
        subprocess.run(
            [*pip, "install", *(packages or REF_PACKAGES)], stdout=out, stderr=out, check=True
        )
    if not _venv_ready(venv, dist):
        raise RuntimeError(f"reference venv at {venv} is still incomplete; see {log_file}")
    return venv


def reference_version(venv: Path, dist: str = "vantage6-server") -> str:
    return subprocess.run(
        [
            str(venv / "bin" / "python"),
            "-c",
            f"import importlib.metadata as m; print(m.version('{dist}'))",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()


# --------------------------------------------------------------------------- processes


class ManagedServer:
    """A server subprocess in its own process group, with its output in a log file."""

    label = "server"
    stop_signal = signal.SIGTERM

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.host = "127.0.0.1"
        self.port = free_port()
        self.proc: subprocess.Popen | None = None
        self.log_path = workdir / "server.log"
        self.root_username = "root"
        self.root_password = ""
        self.command: list[str] = []

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def api_url(self) -> str:
        return f"{self.base_url}/api"

    def command_and_env(self) -> tuple[list[str], dict[str, str]]:
        raise NotImplementedError

    def start(self, timeout: float = 180.0) -> None:
        cmd, env = self.command_and_env()
        self.command = cmd
        log(f"starting {self.label}: {' '.join(cmd)}")
        self._log_fh = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            cmd,
            cwd=self.workdir,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=self._log_fh,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.wait_ready(timeout)

    def wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        started = time.monotonic()
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(
                    f"{self.label} exited with {self.proc.returncode}:\n{self.log_tail()}"
                )
            try:
                conn = http.client.HTTPConnection(self.host, self.port, timeout=5)
                conn.request("GET", "/api/version")
                status = conn.getresponse().status
                conn.close()
                if status == 200:
                    log(
                        f"{self.label} ready on {self.base_url} after "
                        f"{time.monotonic() - started:.1f}s"
                    )
                    return
            except OSError:
                pass
            time.sleep(0.25)
        raise RuntimeError(f"{self.label} not ready after {timeout}s:\n{self.log_tail()}")

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def _group_pids(self) -> list[int]:
        if self.proc is None:
            return []
        pids = []
        for stat in glob.glob("/proc/[0-9]*/stat"):
            try:
                with open(stat) as fh:
                    fields = fh.read().rsplit(")", 1)[1].split()
                if int(fields[2]) == self.proc.pid:  # field 5 of stat: process group
                    pids.append(int(stat.split("/")[2]))
            except (OSError, IndexError, ValueError):
                continue
        return pids

    def cpu_seconds(self) -> float:
        """CPU time (user + system) used so far by the server's process group."""
        ticks = os.sysconf("SC_CLK_TCK")
        total = 0
        for pid in self._group_pids():
            try:
                with open(f"/proc/{pid}/stat") as fh:
                    fields = fh.read().rsplit(")", 1)[1].split()
                total += int(fields[11]) + int(fields[12])  # utime, stime
            except (OSError, IndexError, ValueError):
                continue
        return total / ticks

    def rss_mb(self) -> float | None:
        """Resident memory of the whole process group (all workers) in MiB."""
        if self.proc is None:
            return None
        total_kb = 0
        for pid in self._group_pids():
            try:
                with open(f"/proc/{pid}/status") as fh:
                    for line in fh:
                        if line.startswith("VmRSS:"):
                            total_kb += int(line.split()[1])
            except (OSError, ValueError):
                continue
        return round(total_kb / 1024, 1)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        log(f"stopping {self.label}")
        try:
            os.killpg(self.proc.pid, self.stop_signal)
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)
        except ProcessLookupError:
            pass
        self._log_fh.close()


class OurServer(ManagedServer):
    label = "ours"

    def __init__(self, workdir: Path, python: str | None = None, extra_args: list[str] = ()):
        super().__init__(workdir)
        self.python = python or sys.executable
        self.extra_args = list(extra_args)
        self.root_password = "Bench-" + secrets.token_hex(12) + "-Pw1!"

    def command_and_env(self) -> tuple[list[str], dict[str, str]]:
        db = self.workdir / "ours.sqlite"
        cmd = [
            self.python,
            "-m",
            "vantage6_server",
            "--host",
            self.host,
            "--port",
            str(self.port),
            "--database-uri",
            f"sqlite:///{db}",
            *self.extra_args,
        ]
        env = dict(os.environ)
        env["V6_ROOT_PASSWORD"] = self.root_password
        # the benchmark logs in a thousand nodes from one address
        env.setdefault("V6_RATE_LIMIT_AUTH", "1000000/minute")
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(REPO_ROOT), env.get("PYTHONPATH", "")) if p
        )
        return cmd, env


class ReferenceServer(ManagedServer):
    """vantage6-server 4.14 under uWSGI, as its Docker image runs it.

    The uWSGI options are the ones ``v6 server start`` (vantage6 4.14) passes to
    the server container: an HTTP router with keep-alive in front of one
    gevent worker with 1000 async cores, under a master process. Differences:
    the bind address (127.0.0.1 instead of the container's :5000), the path of
    ``wsgi.py`` (the venv's instead of /vantage6/...), ``--virtualenv`` (the
    image installs into the system Python; here it is a venv) and
    ``--http-timeout`` (see below).
    """

    label = "vantage6 4.14"
    # uWSGI's master treats SIGTERM as "reload"; SIGINT shuts it down.
    stop_signal = signal.SIGINT
    #: the package holding ``wsgi.py``
    wsgi_package = "vantage6.server"
    #: HTTP router options of ``v6 server start`` 4.14 (after ``--gevent 1000``)
    uwsgi_http_options = (
        "--http-websockets",
        "--http-chunked-input",
        "--http-keepalive",
        "--post-buffering",
        "0",
    )

    def __init__(
        self,
        workdir: Path,
        venv: Path,
        log_level: str = "WARNING",
        extra_config: dict | None = None,
    ) -> None:
        """``extra_config``: keys added to (or replacing) those of its configuration file."""
        super().__init__(workdir)
        self.venv = venv
        self.log_level = log_level
        self.extra_config = dict(extra_config or {})
        #: variables added to the server's environment at its next start
        self.extra_env: dict[str, str] = {}
        # one secret for the server's life: tokens stay valid over a restart
        self.jwt_secret_key = secrets.token_hex(32)
        # vantage6 creates root/root on its first start; used for the reference only.
        self.root_password = "root"
        self.config_path = workdir / "config.yaml"
        self.http_timeout = 1800

    def base_config(self) -> dict:
        """The configuration file's keys before ``extra_config``."""
        return {
            "description": "benchmark reference server",
            "ip": self.host,
            "port": self.port,
            "api_path": "/api",
            "uri": f"sqlite:///{self.workdir / 'reference.sqlite'}",
            "allow_drop_all": False,
            "jwt_secret_key": self.jwt_secret_key,
            "server_url": f"{self.base_url}/api",
            "logging": {
                "level": self.log_level,
                "file": "server.log",
                "use_console": True,
                "backup_count": 1,
                "max_size": 1024,
                "format": "%(asctime)s - %(name)-14s - %(levelname)-8s - %(message)s",
                "datefmt": "%Y-%m-%d %H:%M:%S",
                "loggers": [
                    {"name": "urllib3", "level": "warning"},
                    {"name": "socketio.server", "level": "warning"},
                    {"name": "engineio.server", "level": "warning"},
                    {"name": "sqlalchemy.engine", "level": "warning"},
                ],
            },
        }

    def write_config(self) -> None:
        config = self.base_config()
        config.update(self.extra_config)
        self.config_path.write_text(yaml.safe_dump(config, sort_keys=False))

    def wsgi_file(self) -> str:
        out = subprocess.run(
            [
                str(self.venv / "bin" / "python"),
                "-c",
                "import importlib.util as u; "
                f"print(u.find_spec('{self.wsgi_package}').submodule_search_locations[0])",
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        return str(Path(out) / "wsgi.py")

    def command_and_env(self) -> tuple[list[str], dict[str, str]]:
        self.write_config()
        cmd = [
            str(self.venv / "bin" / "uwsgi"),
            "--http",
            f"{self.host}:{self.port}",
            "--gevent",
            "1000",
            *self.uwsgi_http_options,
            "--master",
            "--callable",
            "app",
            "--disable-logging",
            "--wsgi-file",
            self.wsgi_file(),
            "--pyargv",
            str(self.config_path),
            "--virtualenv",
            str(self.venv),
            # The HTTP router's default 60 s timeout would cut node logins that
            # take longer (bcrypt scan with many nodes); raised so they can be timed.
            "--http-timeout",
            str(self.http_timeout),
        ]
        env = {
            "PATH": f"{self.venv / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
            "HOME": os.environ.get("HOME", str(Path.home())),
            "LANG": os.environ.get("LANG", "C.UTF-8"),
            "VIRTUAL_ENV": str(self.venv),
            # keep vantage6's per-user folders (logs, data) inside the work dir
            "XDG_DATA_HOME": str(self.workdir / "xdg-data"),
            "XDG_CONFIG_HOME": str(self.workdir / "xdg-config"),
            "XDG_CACHE_HOME": str(self.workdir / "xdg-cache"),
            "XDG_STATE_HOME": str(self.workdir / "xdg-state"),
            **self.extra_env,
        }
        return cmd, env


# --------------------------------------------------------------------------- algorithm stores

# Both stores list their algorithms to anyone, so the benchmark needs no server login.
STORE_POLICIES = {"algorithm_view": "public"}


class OurStore(ManagedServer):
    """``python -m vantage6_store`` from this repository, on a fresh SQLite file."""

    label = "our store"

    def __init__(self, workdir: Path, python: str | None = None) -> None:
        super().__init__(workdir)
        self.python = python or sys.executable
        self.database_path = workdir / "ours-store.sqlite"
        self.config_path = workdir / "store.yaml"

    def command_and_env(self) -> tuple[list[str], dict[str, str]]:
        # no registry lookups: the benchmark's images are never resolved
        config = {"policies": STORE_POLICIES, "digest_resolver": "none"}
        self.config_path.write_text(yaml.safe_dump(config, sort_keys=False))
        cmd = [
            self.python,
            "-m",
            "vantage6_store",
            "--config",
            str(self.config_path),
            "--host",
            self.host,
            "--port",
            str(self.port),
            "--database-uri",
            f"sqlite:///{self.database_path}",
            "--log-level",
            "warning",
        ]
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(REPO_ROOT), env.get("PYTHONPATH", "")) if p
        )
        return cmd, env


class ReferenceStore(ReferenceServer):
    """vantage6-algorithm-store 4.14 under uWSGI, as ``v6 algorithm-store start`` runs it.

    The store's image command differs from the server's: no ``--http-keepalive``,
    no chunked input and no ``--post-buffering``. The other differences are those of
    ``ReferenceServer``.
    """

    label = "store 4.14"
    wsgi_package = "vantage6.algorithm.store"
    uwsgi_http_options = ("--http-websockets",)

    def __init__(self, workdir: Path, venv: Path) -> None:
        super().__init__(workdir, venv)
        self.database_path = workdir / "reference-store.sqlite"

    def base_config(self) -> dict:
        config = super().base_config()
        config["description"] = "benchmark reference algorithm store"
        config["uri"] = f"sqlite:///{self.database_path}"
        config["policies"] = STORE_POLICIES
        for key in ("jwt_secret_key", "server_url"):
            config.pop(key)
        return config
