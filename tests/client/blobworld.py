"""A live server with a blob store (filesystem backend) and a small federation on it: two
organizations with keys, a plain and an encrypted collaboration, a stand-in node per
organization in each, and a researcher of the first organization. Fixtures for blob tests."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from tests import blobserver
from tests.client.fakenode import BlobNode
from tests.livestack import LiveServer
from vantage6_client import Client
from vantage6_common import crypto

# a live server with a filesystem blob store, for this module
blob_dir = blobserver.blob_dir
live_server = blobserver.live_server

PASSWORD = "Research-Pass-1!"


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def make_key(path: Path) -> Path:
    crypto.save_private_key(crypto.generate_private_key(2048), path)
    return path


@pytest.fixture(scope="module")
def world(live_server: LiveServer, tmp_path_factory: pytest.TempPathFactory):
    root = Client(live_server.api_url)
    root.authenticate(live_server.root_username, live_server.root_password)
    keys = tmp_path_factory.mktemp("keys")
    key_a, key_b = make_key(keys / "a.pem"), make_key(keys / "b.pem")
    org_a = root.organization.create(
        name=unique("org-a"), public_key=crypto.Cryptor(key_a).public_key_str
    )
    org_b = root.organization.create(
        name=unique("org-b"), public_key=crypto.Cryptor(key_b).public_key_str
    )
    orgs = [org_a["id"], org_b["id"]]
    plain = root.collaboration.create(unique("plain"), orgs, encrypted=False)
    secret = root.collaboration.create(unique("secret"), orgs, encrypted=True)
    nodes = {}
    api_keys = {}
    for collab in (plain, secret):
        for org, key in ((org_a, key_a), (org_b, key_b)):
            created = root.node.create(collaboration=collab["id"], organization=org["id"])
            api_keys[collab["id"], org["id"]] = created["api_key"]
            nodes[collab["id"], org["id"]] = BlobNode(
                live_server.api_url, created["api_key"], key if collab is secret else None
            )
    role = root.role.list(name="Researcher", include_root=True).data[0]
    username = unique("alice")
    root.user.create(
        username=username,
        firstname="Alice",
        lastname="Researcher",
        password=PASSWORD,
        email=f"{username}@a.example",
        organization=org_a["id"],
        roles=[role["id"]],
    )
    alice = Client(live_server.api_url)
    alice.authenticate(username, PASSWORD)
    yield {
        "plain": plain,
        "secret": secret,
        "orgs": orgs,
        "nodes": nodes,
        "api_keys": api_keys,
        "username": username,
        "key_a": key_a,
        "alice": alice,
        "root": root,
    }
    alice.close()
    root.close()
    for node in nodes.values():
        node.close()
