"""The container runtimes the CLI offers: the backends registered with the node package.

Nothing here knows a runtime by name; names, the default and install hints come from the
``vantage6.runtimes`` entry points (see :mod:`vantage6_node.runtime`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from vantage6_cli.errors import NO_RUNTIME, CliError

if TYPE_CHECKING:
    from vantage6_node.runtime import ContainerRuntime

#: help text for a ``--runtime`` option without a fixed default
DEFAULT_HELP = "the installed runtime that prefers itself most"


def runtime_names() -> list[str]:
    """Names of the registered runtime backends (empty when none can be listed)."""
    try:
        from vantage6_node.runtime import available_runtimes

        return available_runtimes()
    except Exception:  # noqa: BLE001 - a broken installation offers nothing
        return []


def default_runtime() -> str | None:
    """The backend used when none is named."""
    from vantage6_node.runtime import preferred_runtime

    return preferred_runtime()


def install_hint(name: str) -> str:
    """How to get runtime ``name`` working, and which others could be used instead."""
    from vantage6_node.runtime import UnknownRuntime, runtime_class

    try:
        hint = runtime_class(name).install_hint
    except UnknownRuntime:
        hint = ""
    others = [n for n in runtime_names() if n != name]
    if others:
        alternative = f"or pass --runtime {' / '.join(others)}"
        hint = f"{hint}; {alternative}" if hint else alternative
    return hint or "install a container runtime"


def open_runtime(name: str, **options: Any) -> ContainerRuntime:
    """Runtime ``name``, checked to answer; raises :class:`CliError` (NO_RUNTIME) otherwise."""
    from vantage6_node.runtime import load_runtime

    try:
        runtime = load_runtime(name, **options)
    except Exception as exc:  # noqa: BLE001 - unknown, broken plugin, bad options
        raise CliError(
            f"{name} cannot be used: {exc}", NO_RUNTIME, hint=install_hint(name)
        ) from None
    try:
        available = runtime.is_available()
    except Exception:  # noqa: BLE001
        available = False
    if not available:
        runtime.close()
        raise CliError(
            f"no container runtime: {name} does not answer (is it installed and running?)",
            NO_RUNTIME,
            hint=install_hint(name),
        )
    return runtime


def is_local_image(image: str) -> bool:
    """Whether ``image`` names the engines' local namespace (``localhost/...``, no port): built
    here and never pushed, so no registry can tell its digest."""
    return image.split("/", 1)[0] == "localhost" and "/" in image


def local_digest(image: str, engines: list[str] | None = None) -> str | None:
    """The digest (``sha256:...``) under which a runtime here stores ``image``, or None."""
    last = image.rsplit("/", 1)[-1]
    repository = image.rsplit(":", 1)[0] if ":" in last else image
    for name in engines if engines is not None else runtime_names():
        try:
            runtime = open_runtime(name)
        except CliError:
            continue
        try:
            info = runtime.image_info(image)
        except Exception:  # noqa: BLE001 - a runtime that cannot tell does not know it
            info = None
        finally:
            runtime.close()
        for reference in info.digests if info else ():
            named, _, digest = reference.partition("@")
            if named == repository and digest.startswith("sha256:"):
                return digest
    return None
