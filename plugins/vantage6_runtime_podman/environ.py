"""The environment podman processes run with: the project's ``containers.conf`` when unset.

The project ships ``containers/containers.conf`` (runc, ulimits that work in unprivileged
containers). Podman reads it from ``CONTAINERS_CONF``; ``V6_CONTAINERS_CONF`` overrides where it
is looked for.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

# <repo>/containers/containers.conf, next to the plugins folder in a source checkout
_REPO_CONTAINERS_CONF = Path(__file__).resolve().parents[2] / "containers" / "containers.conf"


def default_containers_conf() -> Path | None:
    """The project's containers.conf, if it can be found."""
    override = os.environ.get("V6_CONTAINERS_CONF")
    if override:
        return Path(override)
    if _REPO_CONTAINERS_CONF.is_file():
        return _REPO_CONTAINERS_CONF
    return None


def podman_environ(base: Mapping[str, str] | None = None) -> dict[str, str]:
    """A copy of ``base`` (default: ``os.environ``) with ``CONTAINERS_CONF`` set if unset."""
    env = dict(os.environ if base is None else base)
    if not env.get("CONTAINERS_CONF"):
        conf = default_containers_conf()
        if conf is not None:
            env["CONTAINERS_CONF"] = str(conf)
    return env


def ensure_containers_conf() -> str | None:
    """Set ``CONTAINERS_CONF`` in this process's environment when unset; return its value."""
    value = podman_environ().get("CONTAINERS_CONF")
    if value:
        os.environ["CONTAINERS_CONF"] = value
    return value
