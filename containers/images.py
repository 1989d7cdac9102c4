"""Build the project's container images locally, without any registry.

    python -m containers.images build [--force] [--only NAME ...]
    python -m containers.images status

Images (all ``localhost/...:latest``):

- ``v6-base``: a Debian bookworm minbase root file system with python3, pandas, numpy, httpx,
  tenacity and requests, made by ``debootstrap`` and loaded with ``podman import``. The root
  file system tarball is cached under ``~/.cache/vantage6-next/`` keyed by a hash of its
  recipe. Debian bookworm has no python3-pyarrow, so pyarrow (for Parquet) is pip-installed on
  the host into a cached folder (a manylinux wheel for the image's Python, no dependencies:
  numpy is Debian's) and appended to a copy of that tarball.
- ``v6-demo``: base + our ``vantage6_algorithm`` (+ ``vantage6_common`` and the data source
  plugins ``plugins/vantage6_datasource_*``) and the demo algorithm
  ``algorithms/demo/v6demo`` (``containers/Containerfile.demo``).
- ``v6-published-tools``: base + the released ``vantage6-algorithm-tools`` 4.14 (pip-installed
  on the host into a cached folder, then copied in) + ``tests/algorithms/published_tools_algo``
  (``containers/Containerfile.published-tools``).

Every image carries the label ``v6next.inputs`` = hash of what went into it (recipe, files
copied in, Containerfile, id of the base image). An image is rebuilt when that hash changes.
Builds never use the network inside a container.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from vantage6_runtime_podman.environ import podman_environ

REPO_ROOT = Path(__file__).resolve().parents[1]
CONTAINERS_DIR = REPO_ROOT / "containers"

INPUTS_LABEL = "v6next.inputs"

BASE_IMAGE = "localhost/v6-base:latest"
DEMO_IMAGE = "localhost/v6-demo:latest"
PUBLISHED_TOOLS_IMAGE = "localhost/v6-published-tools:latest"

# short names used on the command line and by ensure_images()
IMAGES = {"base": BASE_IMAGE, "demo": DEMO_IMAGE, "published-tools": PUBLISHED_TOOLS_IMAGE}

DEBIAN_SUITE = "bookworm"
DEBIAN_VARIANT = "minbase"
DEBIAN_PACKAGES = (
    "python3",
    "python3-pandas",
    "python3-numpy",
    "python3-httpx",  # the algorithm client's HTTP library
    "python3-tenacity",  # its retry policy (vantage6_common.retry)
    "python3-requests",  # kept for algorithms that use it
)
DEFAULT_MIRROR = "http://deb.debian.org/debian"
# bump when the rootfs post-processing below changes
ROOTFS_RECIPE_VERSION = "1"
BASE_CHANGES = (
    "ENV LANG=C.UTF-8",
    "ENV PYTHONUNBUFFERED=1",
    'CMD ["python3"]',
)

#: Parquet support in the images: the last pyarrow series built for numpy 1.x (bookworm has
#: numpy 1.24 and pandas 1.5, which read Parquet through it); a binary wheel, no dependencies
BASE_PIP_REQUIREMENTS = ("pyarrow==15.0.2",)
BASE_PIP_PLATFORM = "manylinux2014_x86_64"

#: the released tools, with the pandas line of their time (community algorithms written for 4.x
#: break on pandas 3) and a pyarrow built for NumPy 2 (the base image's is not)
PUBLISHED_TOOLS_REQUIREMENTS = ("vantage6-algorithm-tools==4.14.*", "pandas<3", "pyarrow>=17")
PUBLISHED_TOOLS_PYTHON = (3, 11)  # Debian bookworm's python3

SITE_PACKAGES = "/usr/local/lib/python3.11/dist-packages"
_IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", "*.pyo", ".pytest_cache")
#: package folders an algorithm image does not get: the server's and store's infrastructure
#: (FastAPI, SQLAlchemy; nothing else in vantage6_common imports it)
_LEFT_OUT = ("vantage6_common/service",)


def _ignore_in(package: Path) -> Callable[[str, list[str]], set[str]]:
    """``copytree``'s ignore for ``package``: caches and the folders in ``_LEFT_OUT``."""
    left_out = {package.parent / folder for folder in _LEFT_OUT}

    def ignore(folder: str, names: list[str]) -> set[str]:
        skipped = {name for name in names if Path(folder, name) in left_out}
        return set(_IGNORE(folder, names)) | skipped

    return ignore


def data_source_plugins(root: Path) -> list[Path]:
    """The data source plugin packages (``plugins/vantage6_datasource_*``) images carry.

    They are copied in as top-level packages without metadata; the algorithm tools find them
    by package name (see ``vantage6_common.datasources``).
    """
    return sorted(p.parent for p in (root / "plugins").glob("vantage6_datasource_*/__init__.py"))


class ImageBuildError(RuntimeError):
    """An image could not be built."""


def cache_dir() -> Path:
    """``$V6_IMAGE_CACHE`` or ``~/.cache/vantage6-next``."""
    override = os.environ.get("V6_IMAGE_CACHE")
    return Path(override) if override else Path.home() / ".cache" / "vantage6-next"


@dataclass
class BuildResult:
    name: str
    image: str
    built: bool
    seconds: float
    inputs: str
    steps: dict[str, float] = field(default_factory=dict)

    def describe(self) -> str:
        what = "built" if self.built else "up to date"
        steps = ", ".join(f"{k} {v:.1f}s" for k, v in self.steps.items())
        return f"{self.image}: {what} in {self.seconds:.1f}s" + (f" ({steps})" if steps else "")


def _hash_tree(root: Path, digest: hashlib._Hash) -> None:
    """Feed relative paths, exec bits and contents of every file under ``root``."""
    for path in sorted(p for p in root.rglob("*") if p.is_file() or p.is_symlink()):
        rel = path.relative_to(root).as_posix()
        digest.update(b"F\0" + rel.encode() + b"\0")
        if path.is_symlink():
            digest.update(b"L" + os.readlink(path).encode())
            continue
        digest.update(b"X" if os.access(path, os.X_OK) else b"-")
        digest.update(path.read_bytes())
        digest.update(b"\0")


def _link_tree(src: Path, dst: Path) -> None:
    """Copy a folder as hard links where possible (fast, no extra space), else as copies."""

    def link_or_copy(a: str, b: str) -> None:
        try:
            os.link(a, b)
        except OSError:
            shutil.copy2(a, b)

    shutil.copytree(
        src,
        dst,
        symlinks=True,
        copy_function=link_or_copy,
        ignore=shutil.ignore_patterns(".complete"),
    )


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


class ImageBuilder:
    """Builds the images with podman. ``log`` receives progress lines."""

    def __init__(
        self,
        podman: str | None = None,
        cache: Path | None = None,
        repo_root: Path = REPO_ROOT,
        mirror: str | None = None,
        log: Callable[[str], None] | None = None,
    ) -> None:
        self.podman = podman or shutil.which("podman") or "podman"
        self.cache = cache or cache_dir()
        self.repo_root = repo_root
        self.containers_dir = repo_root / "containers"
        self.mirror = mirror or os.environ.get("V6_DEBIAN_MIRROR") or DEFAULT_MIRROR
        self.log = log or (lambda line: print(line, file=sys.stderr, flush=True))
        self.env = podman_environ()
        self.replaced: list[str] = []  # ids of images replaced by a rebuild

    # -- helpers -------------------------------------------------------------------------------

    def _run(
        self, argv: Sequence[str], timeout: float = 1800, **kwargs
    ) -> subprocess.CompletedProcess[bytes]:
        try:
            proc = subprocess.run(
                list(argv),
                stdin=kwargs.pop("stdin", subprocess.DEVNULL),
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                env=kwargs.pop("env", self.env),
                check=False,
                timeout=timeout,
                **kwargs,
            )
        except subprocess.TimeoutExpired as exc:
            raise ImageBuildError(f"{' '.join(argv[:3])} ... took over {timeout}s") from exc
        except FileNotFoundError as exc:
            raise ImageBuildError(f"{argv[0]} is not installed (run containers/setup.sh)") from exc
        if proc.returncode != 0:
            tail = proc.stdout.decode("utf-8", "replace")[-4000:]
            raise ImageBuildError(f"{' '.join(argv[:3])} ... failed ({proc.returncode}):\n{tail}")
        return proc

    def image_inputs(self, image: str) -> str | None:
        """The ``v6next.inputs`` label of a local image, '' if unlabeled, None if absent."""
        proc = subprocess.run(
            [self.podman, "image", "inspect", "--format", "json", image],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            env=self.env,
            check=False,
        )
        if proc.returncode != 0:
            return None
        data = json.loads(proc.stdout or b"[]")
        if not data:
            return None
        labels = data[0].get("Labels") or (data[0].get("Config") or {}).get("Labels") or {}
        return labels.get(INPUTS_LABEL, "")

    def _note_replaced(self, image: str) -> None:
        """Remember the id an image had before a rebuild, to delete it once it is untagged."""
        proc = subprocess.run(
            [self.podman, "image", "inspect", "--format", "{{.Id}}", image],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            env=self.env,
            check=False,
        )
        if proc.returncode == 0 and proc.stdout.strip():
            self.replaced.append(proc.stdout.decode().strip())

    def prune_replaced(self) -> None:
        """Delete images that rebuilds left untagged; ones still in use stay (no error)."""
        for image_id in reversed(self.replaced):
            subprocess.run(
                [self.podman, "rmi", image_id],
                stdin=subprocess.DEVNULL,
                capture_output=True,
                env=self.env,
                check=False,
            )
        self.replaced.clear()

    def image_id(self, image: str) -> str:
        proc = self._run([self.podman, "image", "inspect", "--format", "{{.Id}}", image])
        return proc.stdout.decode().strip()

    # -- base ----------------------------------------------------------------------------------

    def rootfs_key(self) -> str:
        digest = hashlib.sha256()
        for part in (
            ROOTFS_RECIPE_VERSION,
            DEBIAN_SUITE,
            DEBIAN_VARIANT,
            ",".join(sorted(DEBIAN_PACKAGES)),
        ):
            digest.update(part.encode() + b"\0")
        return digest.hexdigest()[:16]

    def rootfs_tarball(self, force: bool = False) -> tuple[Path, float]:
        """The cached root file system tarball (made when missing). Returns (path, seconds)."""
        target = self.cache / f"rootfs-{DEBIAN_SUITE}-{self.rootfs_key()}.tar"
        if target.exists() and not force:
            return target, 0.0
        for tool in ("debootstrap", "tar"):
            if shutil.which(tool) is None:
                raise ImageBuildError(f"{tool} is not installed (run containers/setup.sh)")
        started = time.monotonic()
        self.cache.mkdir(parents=True, exist_ok=True)
        self._remove_stale_work_dirs()
        with tempfile.TemporaryDirectory(prefix="rootfs-", dir=self.cache) as tmp:
            rootfs = Path(tmp) / "rootfs"
            self.log(f"debootstrap {DEBIAN_SUITE} ({DEBIAN_VARIANT}) into {rootfs} ...")
            self._run(
                [
                    "debootstrap",
                    f"--variant={DEBIAN_VARIANT}",
                    f"--include={','.join(DEBIAN_PACKAGES)}",
                    DEBIAN_SUITE,
                    str(rootfs),
                    self.mirror,
                ],
                env=dict(os.environ),
            )
            self._post_process(rootfs)
            partial = Path(tmp) / "rootfs.tar"
            self._run(["tar", "--numeric-owner", "-C", str(rootfs), "-cf", str(partial), "."])
            os.replace(partial, target)
        for stale in self.cache.glob(f"rootfs-{DEBIAN_SUITE}-*.tar"):
            if stale != target:
                stale.unlink(missing_ok=True)
        return target, time.monotonic() - started

    def _remove_stale_work_dirs(self, max_age: float = 6 * 3600) -> None:
        """Work folders of builds that were killed (they hold a whole root file system)."""
        now = time.time()
        for folder in self.cache.glob("rootfs-*"):
            if folder.is_dir() and now - folder.stat().st_mtime > max_age:
                shutil.rmtree(folder, ignore_errors=True)

    @staticmethod
    def _post_process(rootfs: Path) -> None:
        """Trim the apt caches and give the image a ``python`` command (published images use it)."""
        for sub in ("var/cache/apt/archives", "var/lib/apt/lists"):
            folder = rootfs / sub
            if folder.is_dir():
                for entry in folder.iterdir():
                    if entry.is_file():
                        entry.unlink()
        for cached in (rootfs / "var/cache/apt").glob("*.bin"):
            cached.unlink()
        python = rootfs / "usr/bin/python"
        if not python.exists() and not python.is_symlink():
            python.symlink_to("python3")

    def base_inputs(self) -> str:
        digest = hashlib.sha256()
        digest.update(self.rootfs_key().encode() + b"\0")
        for change in BASE_CHANGES:
            digest.update(change.encode() + b"\0")
        digest.update(self._base_site_key().encode() + b"\0")
        return digest.hexdigest()[:24]

    @staticmethod
    def _base_site_key() -> str:
        text = "\0".join((*BASE_PIP_REQUIREMENTS, BASE_PIP_PLATFORM, "cp311"))
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def base_site(self) -> tuple[Path, float]:
        """Folder with the base image's pip packages (pyarrow), made on the host (cached)."""
        version = "{}.{}".format(*PUBLISHED_TOOLS_PYTHON)
        options = ["--no-deps", "--only-binary=:all:", "--platform", BASE_PIP_PLATFORM]
        options += ["--python-version", version, "--implementation", "cp"]
        return self._pip_site(
            f"site-base-{self._base_site_key()}",
            sys.executable,
            options,
            list(BASE_PIP_REQUIREMENTS),
            stale_glob="site-base-*",
        )

    def _pip_site(
        self,
        name: str,
        python: str,
        options: list[str],
        requirements: list[str],
        stale_glob: str | None = None,
    ) -> tuple[Path, float]:
        """``pip install --target`` into the cache folder ``name`` (made once; kept whole or not
        at all); ``stale_glob`` names older folders of the same kind to remove."""
        target = self.cache / name
        if (target / ".complete").exists():
            return target, 0.0
        started = time.monotonic()
        self.cache.mkdir(parents=True, exist_ok=True)
        partial = self.cache / f"{name}.partial"
        shutil.rmtree(partial, ignore_errors=True)
        self.log(f"pip install --target {partial.name} {' '.join(requirements)} ...")
        self._run(
            [
                python,
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "--no-warn-script-location",
                *options,
                "--target",
                str(partial),
                *requirements,
            ],
            env=dict(os.environ),
        )
        # console scripts carry the host's interpreter path; they are useless in the image
        shutil.rmtree(partial / "bin", ignore_errors=True)
        (partial / ".complete").write_text("\n".join(requirements) + "\n")
        shutil.rmtree(target, ignore_errors=True)
        os.replace(partial, target)
        for stale in self.cache.glob(stale_glob) if stale_glob else ():
            if stale != target and not stale.name.endswith(".partial"):
                shutil.rmtree(stale, ignore_errors=True)
        return target, time.monotonic() - started

    def base_tarball(self) -> tuple[Path, dict[str, float]]:
        """The root file system plus the pip packages, as one tarball for ``podman import``."""
        target = self.cache / f"base-{self.base_inputs()}.tar"
        rootfs, rootfs_seconds = self.rootfs_tarball()
        steps = {"debootstrap+tar": rootfs_seconds} if rootfs_seconds else {}
        if target.exists():
            return target, steps
        site, pip_seconds = self.base_site()
        if pip_seconds:
            steps["pip"] = pip_seconds
        started = time.monotonic()
        with tempfile.TemporaryDirectory(prefix="base-", dir=self.cache) as tmp:
            stage = Path(tmp) / "stage"
            packages = stage / SITE_PACKAGES.lstrip("/")
            shutil.copytree(site, packages, ignore=shutil.ignore_patterns(".complete"))
            partial = Path(tmp) / "base.tar"
            shutil.copyfile(rootfs, partial)
            self._run(
                [
                    "tar",
                    "--numeric-owner",
                    "--owner=0",
                    "--group=0",
                    "-C",
                    str(stage),
                    "-rf",
                    str(partial),
                    # the entries inside: the folder itself is in the root file system already
                    *sorted(f"./{SITE_PACKAGES.lstrip('/')}/{e.name}" for e in packages.iterdir()),
                ]
            )
            os.replace(partial, target)
        for stale in self.cache.glob("base-*.tar"):
            if stale != target:
                stale.unlink(missing_ok=True)
        steps["tar"] = time.monotonic() - started
        return target, steps

    def build_base(self, force: bool = False) -> BuildResult:
        started = time.monotonic()
        inputs = self.base_inputs()
        if not force and self.image_inputs(BASE_IMAGE) == inputs:
            return BuildResult("base", BASE_IMAGE, False, time.monotonic() - started, inputs)
        tarball, steps = self.base_tarball()
        self._note_replaced(BASE_IMAGE)
        self.log(f"podman import {tarball.name} -> {BASE_IMAGE} ...")
        import_started = time.monotonic()
        argv = [self.podman, "import", "--quiet"]
        for change in (*BASE_CHANGES, f"LABEL {INPUTS_LABEL}={inputs}"):
            argv += ["--change", change]
        argv += [str(tarball), BASE_IMAGE]
        self._run(argv)
        steps["import"] = time.monotonic() - import_started
        return BuildResult("base", BASE_IMAGE, True, time.monotonic() - started, inputs, steps)

    # -- Containerfile images ------------------------------------------------------------------

    def _context_parent(self) -> Path:
        # next to the cache so that cached folders can be hard-linked into build contexts
        folder = self.cache / "contexts"
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    def _containerfile(self, name: str) -> Path:
        path = self.containers_dir / f"Containerfile.{name}"
        if not path.is_file():
            raise ImageBuildError(f"missing {path}")
        return path

    def build_from_context(
        self,
        name: str,
        image: str,
        fill: Callable[[Path], dict[str, float]],
        force: bool,
        cached_dirs: Mapping[str, tuple[Path, str]] | None = None,
    ) -> BuildResult:
        """Assemble a context with ``fill``, hash it, and ``podman build`` when the hash moved.

        ``cached_dirs`` maps a context sub-folder to (folder, key): large folders from the cache
        whose key stands for their content; they are linked into the context only for a build.
        """
        started = time.monotonic()
        containerfile = self._containerfile(name)
        with tempfile.TemporaryDirectory(prefix=f"ctx-{name}-", dir=self._context_parent()) as tmp:
            context = Path(tmp)
            steps = fill(context)
            digest = hashlib.sha256()
            digest.update(containerfile.read_bytes() + b"\0")
            digest.update(self.image_id(BASE_IMAGE).encode() + b"\0")
            _hash_tree(context, digest)
            for sub, (_, key) in sorted((cached_dirs or {}).items()):
                digest.update(f"D\0{sub}\0{key}\0".encode())
            inputs = digest.hexdigest()[:24]
            if not force and self.image_inputs(image) == inputs:
                return BuildResult(name, image, False, time.monotonic() - started, inputs, steps)
            for sub, (folder, _) in (cached_dirs or {}).items():
                _link_tree(folder, context / sub)
            self._note_replaced(image)
            self.log(f"podman build {containerfile.name} -> {image} ...")
            build_started = time.monotonic()
            self._run(
                [
                    self.podman,
                    "build",
                    "--quiet",
                    "--pull=never",
                    "--network=none",
                    "--layers=false",
                    f"--label={INPUTS_LABEL}={inputs}",
                    "--file",
                    str(containerfile),
                    "--tag",
                    image,
                    str(context),
                ]
            )
            steps["build"] = time.monotonic() - build_started
        return BuildResult(name, image, True, time.monotonic() - started, inputs, steps)

    def _copy_packages(self, dest: Path, sources: Iterable[Path]) -> None:
        dest.mkdir(parents=True, exist_ok=True)
        for src in sources:
            if not (src / "__init__.py").is_file():
                raise ImageBuildError(f"python package {src} not found")
            shutil.copytree(src, dest / src.name, ignore=_ignore_in(src))

    def build_demo(self, force: bool = False) -> BuildResult:
        root = self.repo_root

        def fill(context: Path) -> dict[str, float]:
            self._copy_packages(
                context / "pkgs",
                [
                    root / "vantage6_algorithm",
                    root / "vantage6_common",
                    *data_source_plugins(root),
                    root / "algorithms" / "demo" / "v6demo",
                ],
            )
            return {}

        return self.build_from_context("demo", DEMO_IMAGE, fill, force)

    def _python311(self) -> str:
        if sys.version_info[:2] == PUBLISHED_TOOLS_PYTHON:
            return sys.executable
        name = "python{}.{}".format(*PUBLISHED_TOOLS_PYTHON)
        found = shutil.which(name)
        if found is None:
            raise ImageBuildError(f"{name} is needed to pip-install the published tools")
        return found

    def published_tools_site(self) -> tuple[Path, float]:
        """Folder with vantage6-algorithm-tools and its dependencies (cached)."""
        key = hashlib.sha256(
            f"{PUBLISHED_TOOLS_REQUIREMENTS}\0{PUBLISHED_TOOLS_PYTHON}\0linux-x86_64".encode()
        ).hexdigest()[:16]
        return self._pip_site(
            f"site-published-tools-{key}", self._python311(), [], list(PUBLISHED_TOOLS_REQUIREMENTS)
        )

    def build_published_tools(self, force: bool = False) -> BuildResult:
        site, seconds = self.published_tools_site()

        def fill(context: Path) -> dict[str, float]:
            self._copy_packages(
                context / "pkgs",
                [self.repo_root / "tests" / "algorithms" / "published_tools_algo"],
            )
            return {"pip": seconds} if seconds else {}

        # the site folder's name carries the hash of the pip requirement it was made from
        return self.build_from_context(
            "published-tools",
            PUBLISHED_TOOLS_IMAGE,
            fill,
            force,
            cached_dirs={"site": (site, site.name)},
        )

    # -- all -----------------------------------------------------------------------------------

    def build(self, names: Iterable[str] | None = None, force: bool = False) -> list[BuildResult]:
        """Build ``names`` (short names, default all) when missing or out of date."""
        wanted = list(names) if names else list(IMAGES)
        unknown = [n for n in wanted if n not in IMAGES]
        if unknown:
            raise ImageBuildError(f"unknown image(s) {unknown}; known: {sorted(IMAGES)}")
        builders = {
            "base": self.build_base,
            "demo": self.build_demo,
            "published-tools": self.build_published_tools,
        }
        results: list[BuildResult] = []
        failures: list[str] = []
        with _locked(self.cache / "build.lock"):
            # every image starts from the base; a changed base changes their inputs hash
            base = self.build_base(force=force and "base" in wanted)
            if "base" in wanted:
                results.append(base)
            for name in wanted:
                if name == "base":
                    continue
                try:
                    results.append(builders[name](force=force))
                except ImageBuildError as exc:
                    failures.append(f"{name}: {exc}")
            self.prune_replaced()
        if failures:
            raise ImageBuildError("; ".join(failures))
        return results


def ensure_images(
    names: Iterable[str] | None = None,
    force: bool = False,
    log: Callable[[str], None] | None = None,
) -> dict[str, str]:
    """Build whatever of ``names`` (default all) is missing or stale; return {name: image}.

    Safe to call from several processes at once (a file lock serialises builds).
    """
    results = ImageBuilder(log=log).build(names, force=force)
    return {r.name: r.image for r in results}


def _main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m containers.images")
    sub = parser.add_subparsers(dest="command", required=True)
    build = sub.add_parser("build", help="build missing or out-of-date images")
    build.add_argument("--force", action="store_true", help="rebuild even when up to date")
    build.add_argument(
        "--only", action="append", choices=sorted(IMAGES), help="build only this image"
    )
    sub.add_parser("status", help="show which images are present and up to date")
    args = parser.parse_args(argv)
    builder = ImageBuilder()
    if args.command == "build":
        try:
            results = builder.build(args.only, force=args.force)
        except ImageBuildError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        for result in results:
            print(result.describe())
        return 0
    for name, image in IMAGES.items():
        label = builder.image_inputs(image)
        state = "absent" if label is None else f"present (inputs {label or 'unlabeled'})"
        print(f"{name:16} {image:40} {state}")
    return 0


if __name__ == "__main__":
    sys.exit(_main())
