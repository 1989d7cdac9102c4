"""``v6 task create --algorithm NAME``: find the approved algorithm in the collaboration's
coupled stores and check the function and its arguments before the task is created."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from vantage6_cli import algometa, output
from vantage6_cli.errors import NOT_FOUND, USAGE, CliError
from vantage6_cli.storeapi import StoreSession, coupled_stores, store_api_url


@dataclass
class StoreAlgorithm:
    """An approved algorithm and the store (coupling id at the server) it comes from."""

    algorithm: dict[str, Any]
    store_id: int
    store_url: str

    @property
    def image(self) -> str:
        """The image to run: pinned to the digest the store recorded, when it recorded one."""
        image = str(self.algorithm["image"])
        digest = self.algorithm.get("digest")
        if digest and "@" not in image:
            return f"{image}@{digest}"
        return image

    def function(self, name: str) -> dict[str, Any]:
        functions = self.algorithm.get("functions") or []
        for item in functions:
            if item.get("name") == name:
                return item
        known = ", ".join(f["name"] for f in functions) or "none"
        raise CliError(
            f"--function {name}: algorithm '{self.algorithm['name']}' has no such function "
            f"(its functions: {known})",
            USAGE,
        )


def find_algorithm(
    client: Any, collaboration: int, name: str, image: str | None = None
) -> StoreAlgorithm:
    """The approved algorithm called ``name`` (and with ``image``, when given) in the stores
    coupled to ``collaboration``."""
    stores = coupled_stores(client, collaboration)
    if not stores:
        raise CliError(
            f"--algorithm: no algorithm store is coupled to collaboration {collaboration}",
            NOT_FOUND,
            hint="run an image directly with --image, or ask an administrator to couple a store",
        )
    found: list[StoreAlgorithm] = []
    for store in stores:
        session = StoreSession(store_api_url(store["url"]), client, int(store["id"]))
        for item in session.all("algorithm", {"name": name}):
            if item.get("name") == name:
                found.append(StoreAlgorithm(item, int(store["id"]), store["url"]))
    if not found:
        where = ", ".join(s["url"] for s in stores)
        raise CliError(
            f"--algorithm {name}: no approved algorithm of that name in {where}",
            NOT_FOUND,
            hint="list them with: v6 store algorithm list",
        )
    if image is not None:
        matching = [f for f in found if image in (str(f.algorithm["image"]), f.image)]
        if not matching:
            which = ", ".join(str(f.algorithm["image"]) for f in found)
            raise CliError(f"--image {image}: algorithm '{name}' is approved as {which}", USAGE)
        found = matching
    if len(found) > 1:
        which = ", ".join(f"{f.algorithm['image']} ({f.store_url})" for f in found)
        raise CliError(
            f"--algorithm {name}: several approved algorithms have that name ({which}); "
            "pass --image to pick one",
            USAGE,
        )
    chosen = found[0]
    output.info(f"algorithm '{name}': {chosen.image} from {chosen.store_url}")
    return chosen


def task_input(found: StoreAlgorithm, function: str, arg_items: tuple[str, ...]) -> dict:
    """The task's input after checking ``function`` and ``--arg`` items against the store."""
    meta = found.function(function)
    kwargs = algometa.task_arguments(meta, arg_items)
    return {"method": function, "args": [], "kwargs": kwargs}


def reads_no_data(found: StoreAlgorithm, function: str) -> bool:
    """Whether the store says the function takes no database."""
    return not found.function(function).get("databases")
