"""Station policies: which algorithms, stores, users and organizations may run tasks here.

Semantics follow the vantage6 4.x node. An ``allowed_algorithms`` entry matches an image
exactly, or as the image name without its tag (entry ``repo/algo`` allows ``repo/algo:1.0``),
or -- when the entry looks like a regular expression -- as a regular expression anchored at the
start of the image reference. An entry with the image's name but another tag or a digest
(``repo/algo:1.0`` for ``repo/algo:latest`` or ``repo/algo@sha256:...``) allows it when both
point to the same digest in the registry; the run is then pinned to that digest. With both
``allowed_algorithms`` and ``allowed_algorithm_stores`` set, an image must pass both, unless
``allow_either_whitelist_or_store`` is set (then one is enough).

Whether a store allows a task is found out beforehand (the store, the server and the registry
are asked: :mod:`vantage6_node.algorithm_store`) and handed in as a :class:`StoreVerdict`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from vantage6_common.registry import ImageReference, RegistryError
from vantage6_node.config import Policies, looks_like_regex

#: images of the vantage6 "basics" algorithm, allowed unless ``allow_basics_algorithm`` is off
BASICS_IMAGE_PREFIX = "harbor2.vantage6.ai/algorithms/basics"

#: the digest an image reference points to now; raises RegistryError or ValueError
DigestOf = Callable[[str], str]


@dataclass(frozen=True)
class StoreVerdict:
    """Whether a trusted algorithm store approved the task's image, and what to run."""

    allowed: bool
    reason: str = ""
    #: the approved image pinned to its approved digest (``name@sha256:...``)
    image: str | None = None


@dataclass(frozen=True)
class TaskOrigin:
    """Who sent a task, as far as the policies care."""

    image: str
    init_org_id: int | None = None
    init_user_id: int | None = None
    init_org_name: str | None = None
    store: StoreVerdict | None = None


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str = ""
    #: the reference to run (the task's image, or the image pinned to a digest)
    image: str | None = None


@dataclass
class WhitelistMatch:
    """The reference an ``allowed_algorithms`` entry lets run (None: none does), and why not."""

    image: str | None = None
    notes: list[str] = field(default_factory=list)


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


def _same_digest(entry: str, image: str, digest_of: DigestOf, match: WhitelistMatch) -> bool:
    """Whether ``entry`` and ``image`` point to the same digest (pins ``match`` when so)."""
    digests = []
    for reference in (image, entry):
        try:
            digests.append(digest_of(reference))
        except (RegistryError, ValueError) as exc:
            match.notes.append(f"no digest for {reference}: {exc}")
            return False
    if digests[0] != digests[1]:
        match.notes.append(f"{image} is {digests[0]}, the allowed {entry} is {digests[1]}")
        return False
    try:
        match.image = ImageReference.parse(image).pinned(digests[0])
    except ValueError:
        return False
    return True


def whitelist_match(
    allowed: list[str], image: str, digest_of: DigestOf | None = None
) -> WhitelistMatch:
    """Which reference ``allowed_algorithms`` lets run for ``image`` (see the module doc)."""
    match = WhitelistMatch()
    bare = image_without_tag(image)
    for entry in allowed:
        if looks_like_regex(entry):
            if re.match(entry, image):
                match.image = image
                return match
        elif entry == image or entry == bare:
            match.image = image
            return match
        elif digest_of is not None and image_without_tag(entry) == bare:
            if _same_digest(entry, image, digest_of, match):
                return match
    return match


def algorithm_allowed(allowed: list[str], image: str, digest_of: DigestOf | None = None) -> bool:
    return whitelist_match(allowed, image, digest_of).image is not None


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

    def __init__(self, policies: Policies, digest_of: DigestOf | None = None) -> None:
        """``digest_of`` looks digests up for tag entries of ``allowed_algorithms`` (None:
        such entries match only exactly, as without a registry)."""
        self.policies = policies
        self.digest_of = digest_of

    @property
    def needs_org_name(self) -> bool:
        """Whether an ``allowed_organizations`` entry is a name (the node must look it up)."""
        return any(
            not isinstance(o, int) and not str(o).isdigit()
            for o in self.policies.allowed_organizations
        )

    @property
    def needs_store(self) -> bool:
        """Whether a task's algorithm store must be checked (see ``TaskOrigin.store``)."""
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

        return self._algorithm(origin)

    def _algorithm(self, origin: TaskOrigin) -> Decision:
        """The ``allowed_algorithms`` / ``allowed_algorithm_stores`` part of :meth:`check`."""
        p, image = self.policies, origin.image
        listed = (
            whitelist_match(p.allowed_algorithms, image, self.digest_of)
            if p.allowed_algorithms
            else None
        )
        store = origin.store if p.allowed_algorithm_stores else None
        from_whitelist = listed is None or listed.image is not None
        from_store = not p.allowed_algorithm_stores or (store is not None and store.allowed)
        if p.allow_either_whitelist_or_store and listed is not None and p.allowed_algorithm_stores:
            # both lists are set and one match suffices (with only one list set, that list
            # decides: vantage6 would then allow everything, which is not what anyone means)
            allowed = listed.image is not None or (store is not None and store.allowed)
        else:
            allowed = from_whitelist and from_store
        if not allowed:
            if not from_whitelist:
                assert listed is not None
                notes = f" ({'; '.join(listed.notes)})" if listed.notes else ""
                return Decision(False, f"image {image!r} is not in allowed_algorithms{notes}")
            reason = store.reason if store is not None else "the task names no algorithm store"
            return Decision(False, reason)
        if store is not None and store.allowed and store.image:
            return Decision(True, image=store.image)
        if listed is not None and listed.image:
            return Decision(True, image=listed.image)
        return Decision(True, image=image)

    def shared(self) -> dict:
        """The policy part of ``node_info_update`` (what others may see of this node)."""
        out: dict = {"allowed_algorithms": self.policies.allowed_algorithms or "all"}
        if self.policies.allowed_users:
            out["allowed_users"] = self.policies.allowed_users
        if self.policies.allowed_organizations:
            out["allowed_orgs"] = self.policies.allowed_organizations
        return out
