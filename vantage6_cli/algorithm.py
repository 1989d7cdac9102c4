"""``v6 algorithm``: start a new algorithm package from our template, build its image."""

from __future__ import annotations

import importlib.util
import keyword
import re
import shutil
from pathlib import Path

import click

from vantage6_cli import output
from vantage6_cli.errors import NO_RUNTIME, STATE, USAGE, CliError
from vantage6_cli.runtimes import (
    DEFAULT_HELP,
    default_runtime,
    install_hint,
    open_runtime,
    runtime_names,
)
from vantage6_common.datasources import MODULE_PREFIX, available_data_sources

TEMPLATE_DIR = Path(__file__).resolve().parent / "templates" / "algorithm"
#: packages copied into vendor/ so that the image needs no network and no PyPI
VENDORED = ("vantage6_algorithm", "vantage6_common")
BASE_IMAGE = "localhost/v6-base:latest"
_NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,60}$")
#: template files whose names differ in the output
_RENAMES = {"gitignore": ".gitignore", "containerignore": ".containerignore"}


@click.group("algorithm")
def algorithm() -> None:
    """Write new algorithms."""


def package_name(name: str) -> str:
    if not _NAME_RE.match(name):
        raise CliError(
            f"invalid algorithm name {name!r}: start with a letter; letters, digits, '-' and '_'",
            USAGE,
        )
    package = name.replace("-", "_").lower()
    if keyword.iskeyword(package) or not package.isidentifier():
        raise CliError(f"{name!r} does not give a usable Python package name", USAGE)
    return package


def vendored_packages() -> list[str]:
    """:data:`VENDORED` plus the installed data source plugin packages (the loaders)."""
    plugins = [
        MODULE_PREFIX + name
        for name in available_data_sources()
        if importlib.util.find_spec(MODULE_PREFIX + name) is not None
    ]
    return [*VENDORED, *plugins]


def vendor(target: Path) -> list[str]:
    """Copy the algorithm tools into ``target/vendor`` (replacing what is there)."""
    vendor_dir = target / "vendor"
    copied = []
    for module in vendored_packages():
        spec = importlib.util.find_spec(module)
        if spec is None or not spec.submodule_search_locations:
            raise CliError(f"cannot find the installed package {module}", 1)
        source = Path(list(spec.submodule_search_locations)[0])
        destination = vendor_dir / module
        if destination.exists():
            shutil.rmtree(destination)
        shutil.copytree(source, destination, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        copied.append(module)
    return copied


def render(name: str, package: str, image: str, target: Path) -> list[Path]:
    written = []
    values = {"{{name}}": name, "{{package}}": package, "{{image}}": image}
    for source in sorted(TEMPLATE_DIR.rglob("*.tmpl")):
        relative = source.relative_to(TEMPLATE_DIR).as_posix()[: -len(".tmpl")]
        relative = relative.replace("__package__", package)
        head, _, tail = relative.rpartition("/")
        tail = _RENAMES.get(tail, tail)
        relative = f"{head}/{tail}" if head else tail
        text = source.read_text(encoding="utf-8")
        for key, value in values.items():
            text = text.replace(key, value)
        destination = target / relative
        destination.parent.mkdir(parents=True, exist_ok=True)
        destination.write_text(text, encoding="utf-8")
        written.append(destination)
    return written


@algorithm.command("create", short_help="Create an algorithm package from the template.")
@click.argument("name")
@click.option(
    "--directory",
    "-d",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where to create it.  [default: ./NAME]",
)
@click.option("--image", help="Image name.  [default: localhost/NAME:latest]")
@click.option("--force", is_flag=True, help="Write into an existing, non-empty directory.")
@output.json_option
def algorithm_create(
    name: str, directory: Path | None, image: str | None, force: bool, as_json: bool
) -> None:
    """Create a new algorithm package NAME from the built-in template (no network).

    It has a central and a partial function, tests with MockAlgorithmClient and a
    Containerfile FROM localhost/v6-base.
    """
    package = package_name(name)
    target = (directory or Path(name)).expanduser().resolve()
    if target.exists() and any(target.iterdir()) and not force:
        raise CliError(
            f"{target} exists and is not empty", STATE, hint="pass --force to write into it"
        )
    image = image or f"localhost/{name.lower()}:latest"
    target.mkdir(parents=True, exist_ok=True)
    written = render(name, package, image, target)
    vendored = vendor(target)
    result = {
        "name": name,
        "package": package,
        "directory": str(target),
        "image": image,
        "files": [str(p.relative_to(target)) for p in written],
        "vendored": vendored,
    }
    if as_json:
        output.print_json(result)
        return
    output.success(f"algorithm '{name}' created in {target}")
    output.print_table(["file"], [[f] for f in result["files"]])
    output.info(
        f"next: cd {target} && python -m pip install -e '.[test]' && python -m pytest "
        "&& v6 algorithm build ."
    )


@algorithm.command("build", short_help="Build the image of an algorithm.")
@click.argument(
    "directory", type=click.Path(file_okay=False, exists=True, path_type=Path), default="."
)
@click.option("--image", "-t", help="Image name.  [default: localhost/<project name>:latest]")
@click.option(
    "--runtime",
    type=click.Choice(runtime_names()),
    default=None,
    help=f"Container engine to build with.  [default: {DEFAULT_HELP}]",
)
@click.option("--no-vendor", is_flag=True, help="Do not refresh vendor/ first.")
@output.json_option
def algorithm_build(
    directory: Path, image: str | None, runtime: str | None, no_vendor: bool, as_json: bool
) -> None:
    """Build the image of the algorithm in DIRECTORY (refreshes vendor/ first)."""
    directory = directory.resolve()
    containerfile = directory / "Containerfile"
    if not containerfile.is_file():
        raise CliError(f"no Containerfile in {directory}", USAGE)
    if image is None:
        image = f"localhost/{_project_name(directory).lower()}:latest"
    from vantage6_node.runtime import ContainerRuntimeError

    runtime = runtime or default_runtime()
    if runtime is None:
        raise CliError("no container runtime is installed", NO_RUNTIME)
    engine = open_runtime(runtime)
    try:
        builder = engine.image_builder()
        if builder is None:
            raise CliError(
                f"{runtime} cannot build images",
                NO_RUNTIME,
                hint=install_hint(runtime),
            )
        if not engine.image_exists(BASE_IMAGE):
            raise CliError(
                f"the base image {BASE_IMAGE} is missing",
                NO_RUNTIME,
                hint="build it in a source checkout of this project with: "
                "python -m containers.images build --only base",
            )
        if not no_vendor:
            vendor(directory)
        output.info(f"building {image} ...")
        try:
            builder.build(directory, containerfile, image)
        except ContainerRuntimeError as exc:
            raise CliError(f"{runtime} build failed:\n{str(exc)[-3000:]}", 1) from None
    finally:
        engine.close()
    if as_json:
        output.print_json({"image": image, "directory": str(directory)})
    else:
        output.success(f"built {image}")


def _project_name(directory: Path) -> str:
    pyproject = directory / "pyproject.toml"
    if pyproject.is_file():
        import tomllib

        try:
            return str(tomllib.loads(pyproject.read_text())["project"]["name"])
        except (KeyError, ValueError):
            pass
    return directory.name
