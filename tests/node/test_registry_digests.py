"""Digests from a real ``docker-registry``: what the node compares ``allowed_algorithms`` tag
entries by (as vantage6 4.x does), and how a registry that cannot tell is reported."""

from __future__ import annotations

import secrets
import socket
import time

import pytest

from tests.livestack import free_port
from tests.node.harness import BASE_IMAGE, DEMO_IMAGE
from tests.registry import LocalRegistry
from vantage6_common.registry import ImageReference, RegistryError, manifest_digest
from vantage6_node.config import Policies
from vantage6_node.policies import PolicyChecker, TaskOrigin

pytestmark = [pytest.mark.containers, pytest.mark.timeout(600)]


def _checker(*entries: str) -> PolicyChecker:
    return PolicyChecker(Policies(allowed_algorithms=list(entries)), digest_of=manifest_digest)


def test_tag_entry_allows_another_tag_of_the_same_digest(podman_images, local_registry):
    registry: LocalRegistry = local_registry
    repo = f"algos/tags-{secrets.token_hex(3)}"
    digest = registry.push(DEMO_IMAGE, repo, "1.0")
    registry.push(DEMO_IMAGE, repo, "stable")
    assert manifest_digest(registry.image(repo, "1.0")) == digest
    checker = _checker(registry.image(repo, "1.0"))
    decision = checker.check(TaskOrigin(image=registry.image(repo, "stable")))
    assert decision.allowed and decision.image == f"{registry.host}/{repo}@{digest}"
    pinned = checker.check(TaskOrigin(image=f"{registry.host}/{repo}@{digest}"))
    assert pinned.allowed
    # the allowed tag stays where it was; "stable" moves to other content
    moved = registry.push(BASE_IMAGE, repo, "stable")
    refused = checker.check(TaskOrigin(image=registry.image(repo, "stable")))
    assert not refused.allowed and moved in refused.reason and digest in refused.reason
    # a tag the registry does not know
    unknown = checker.check(TaskOrigin(image=registry.image(repo, "nope")))
    assert not unknown.allowed and "is not in registry" in unknown.reason


def test_registry_that_cannot_tell(local_registry):
    dead = f"127.0.0.1:{free_port()}/algos/x:1"
    with pytest.raises(RegistryError, match="cannot be reached"):
        manifest_digest(dead, timeout=3)
    with pytest.raises(RegistryError, match="is not in registry"):
        manifest_digest(local_registry.image("algos/never-pushed", "1"))
    pinned = "sha256:" + "c" * 64
    assert manifest_digest(f"{dead}@{pinned}") == pinned  # a pin needs no registry
    for bad in ("", "UPPER/case:1", "a/b:1@sha256:short", "a b", "a/b:" + "t" * 200):
        with pytest.raises(ValueError):
            ImageReference.parse(bad)


def test_reference_parts():
    ref = ImageReference.parse("127.0.0.1:5000/a/b:1.0@sha256:" + "d" * 64)
    assert (ref.registry, ref.repository, ref.tag) == ("127.0.0.1:5000", "a/b", "1.0")
    assert ref.named == "127.0.0.1:5000/a/b:1.0"
    assert ref.pinned("sha256:" + "e" * 64) == "127.0.0.1:5000/a/b@sha256:" + "e" * 64
    hub = ImageReference.parse("python:3.12")
    assert (hub.registry, hub.repository, hub.tag) == ("docker.io", "library/python", "3.12")


def test_a_registry_that_never_answers_times_out():
    """A registry that accepts connections and then says nothing: a reason, not a hang."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        port = listener.getsockname()[1]
        started = time.monotonic()
        with pytest.raises(RegistryError, match="cannot be reached.*Timeout"):
            manifest_digest(f"127.0.0.1:{port}/algos/x:1", timeout=1)
        assert time.monotonic() - started < 10
