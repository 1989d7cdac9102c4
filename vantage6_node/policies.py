"""Station policies: which algorithms, stores, users and organizations may run tasks here.

Semantics follow the vantage6 node: an ``allowed_algorithms`` entry matches an image exactly,
or as the image name without its tag (entry ``repo/algo`` allows ``repo/algo:1.0``), or -- when
the entry looks like a regular expression -- as a regular expression anchored at the start of
the image reference. With both ``allowed_algorithms`` and ``allowed_algorithm_stores`` set, an
image must pass both, unless ``allow_either_whitelist_or_store`` is set (then one is enough).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from vantage6_node.config import Policies, looks_like_regex

#: images of the vantage6 "basics" algorithm, allowed unless ``allow_basics_algorithm`` is off
BASICS_IMAGE_PREFIX = "harbor2.vantage6.ai/algorithms/basics"


@dataclass(frozen=True)
class TaskOrigin:
    """Who sent a task, as far as the policies care."""

    image: str
    init_org_id: int | None = None
    init_user_id: int | None = None
    init_org_name: str | None = None
    store_url: str | None = None


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str = ""


def split_image(image: str) -> tuple[str, str | None, str | None]:
    """``registry/repo:tag@sha256:x`` -> (``registry/repo``, ``tag``, ``sha256:x``)."""
    digest = None
    if "@" in image:
        image, digest = image.split("@", 1)
    tag = None
    last_slash = image.rfind("/")
    colon = image.rfind(":")
    if colon > last_slash:
        image, tag = image[:colon], image[colon + 1 :]
    return image, tag, digest


def image_without_tag(image: str) -> str:
    return split_image(image)[0]


def algorithm_allowed(allowed: list[str], image: str) -> bool:
    bare = image_without_tag(image)
    for entry in allowed:
        if looks_like_regex(entry):
            if re.match(entry, image):
                return True
        elif entry == image or entry == bare:
            return True
    return False


def store_allowed(allowed: list[str], store_url: str | None) -> bool:
    if not store_url:
        return False
    wanted = store_url.rstrip("/")
    for entry in allowed:
        if looks_like_regex(entry):
            if re.match(entry, store_url):
                return True
        elif entry.rstrip("/") == wanted:
            return True
    return False


class PolicyChecker:
    """Evaluates the configured policies for one task."""

    def __init__(self, policies: Policies) -> None:
        self.policies = policies

    @property
    def needs_org_name(self) -> bool:
        """Whether an ``allowed_organizations`` entry is a name (the node must look it up)."""
        return any(
            not isinstance(o, int) and not str(o).isdigit()
            for o in self.policies.allowed_organizations
        )

    @property
    def needs_store_url(self) -> bool:
        return bool(self.policies.allowed_algorithm_stores)

    def check(self, origin: TaskOrigin) -> Decision:
        p = self.policies
        image = origin.image
        if image.startswith(BASICS_IMAGE_PREFIX) and not p.allow_basics_algorithm:
            return Decision(False, "this node does not allow the vantage6 basics algorithm")

        users = [str(u) for u in p.allowed_users]
        orgs = [str(o) for o in p.allowed_organizations]
        if users or orgs:
            ok = (origin.init_user_id is not None and str(origin.init_user_id) in users) or (
                origin.init_org_id is not None and str(origin.init_org_id) in orgs
            )
            if not ok and origin.init_org_name is not None:
                # a digit-only entry is an id: an organization named "13" is not organization
                # 13 (GHSA-7x94-6g2m-3hp2)
                ok = origin.init_org_name in [o for o in orgs if not o.isdigit()]
            if not ok:
                return Decision(
                    False,
                    f"user {origin.init_user_id} of organization {origin.init_org_id} may not "
                    "start tasks on this node (allowed_users / allowed_organizations)",
                )

        from_whitelist = not p.allowed_algorithms or algorithm_allowed(p.allowed_algorithms, image)
        from_store = not p.allowed_algorithm_stores or store_allowed(
            p.allowed_algorithm_stores, origin.store_url
        )
        both_lists = bool(p.allowed_algorithms and p.allowed_algorithm_stores)
        if p.allow_either_whitelist_or_store and both_lists:
            # both lists are set and one match suffices (with only one list set, that list
            # decides: vantage6 would then allow everything, which is not what anyone means)
            allowed = algorithm_allowed(p.allowed_algorithms, image) or store_allowed(
                p.allowed_algorithm_stores, origin.store_url
            )
        else:
            allowed = from_whitelist and from_store
        if not allowed:
            if not from_whitelist:
                return Decision(False, f"image {image!r} is not in allowed_algorithms")
            return Decision(
                False, f"algorithm store {origin.store_url!r} is not in allowed_algorithm_stores"
            )
        return Decision(True)

    def shared(self) -> dict:
        """The policy part of ``node_info_update`` (what others may see of this node)."""
        out: dict = {"allowed_algorithms": self.policies.allowed_algorithms or "all"}
        if self.policies.allowed_users:
            out["allowed_users"] = self.policies.allowed_users
        if self.policies.allowed_organizations:
            out["allowed_orgs"] = self.policies.allowed_organizations
        return out
