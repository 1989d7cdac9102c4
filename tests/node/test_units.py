"""Policies, container environment, run folder and encryption glue (no containers)."""

from __future__ import annotations

import base64
import json
import os
import stat

import pytest

from vantage6_common import crypto
from vantage6_common.envcoding import decode_env_value
from vantage6_common.registry import RegistryError
from vantage6_common.scheme_policy import DowngradeRefused, SchemePolicy
from vantage6_node.config import EncryptionConfig, Policies, parse_config
from vantage6_node.encryption import EncryptionMismatch, NodeEncryption
from vantage6_node.policies import (
    PolicyChecker,
    StoreVerdict,
    TaskOrigin,
    image_without_tag,
    split_image,
    store_allowed,
)
from vantage6_node.runs.environment import build_plan, database_relays
from vantage6_node.runs.folder import PHASE_RUNNING, Report, RunState, RunStore

# -- policies ----------------------------------------------------------------------------------


def _check(policies: dict, **origin) -> bool:
    origin.setdefault("image", "harbor.example.org/algos/stats:1.0")
    return PolicyChecker(Policies(**policies)).check(TaskOrigin(**origin)).allowed


def test_split_image():
    assert split_image("localhost:5000/a/b:1.2@sha256:ab") == (
        "localhost:5000/a/b",
        "1.2",
        "sha256:ab",
    )
    assert split_image("localhost:5000/a/b") == ("localhost:5000/a/b", None, None)
    assert image_without_tag("repo/x:latest") == "repo/x"


@pytest.mark.parametrize(
    ("allowed", "image", "ok"),
    [
        (["harbor.example.org/algos/stats:1.0"], "harbor.example.org/algos/stats:1.0", True),
        (["harbor.example.org/algos/stats"], "harbor.example.org/algos/stats:2.0", True),
        (["harbor.example.org/algos/stats:1.0"], "harbor.example.org/algos/stats:2.0", False),
        (["harbor.example.org/algos/stat"], "harbor.example.org/algos/stats:1.0", False),
        ([r"harbor\.example\.org/algos/.*"], "harbor.example.org/algos/x:3", True),
        ([r"harbor\.example\.org/algos/.*"], "evil.org/harbor.example.org/algos/x", False),
        (["^localhost/v6-.*"], "localhost/v6-demo:latest", True),
        # a dot alone is not a regex: no accidental wildcard
        (["localhost/v6.demo"], "localhost/v6Xdemo", False),
    ],
)
def test_allowed_algorithms(allowed, image, ok):
    assert _check({"allowed_algorithms": allowed}, image=image) is ok


def test_no_policy_allows_everything():
    assert _check({})


def test_users_and_organizations():
    policies = {"allowed_users": [5], "allowed_organizations": ["7", "Clinic"]}
    assert _check(policies, init_user_id=5, init_org_id=1)
    assert _check(policies, init_user_id=1, init_org_id=7)
    assert _check(policies, init_user_id=1, init_org_id=8, init_org_name="Clinic")
    assert not _check(policies, init_user_id=1, init_org_id=8, init_org_name="Other")
    assert PolicyChecker(Policies(**policies)).needs_org_name


def test_stores():
    """The store's verdict (found by vantage6_node.algorithm_store) combined with the list."""
    yes = StoreVerdict(True, image="a/b@sha256:" + "1" * 64)
    no = StoreVerdict(False, "image a/b is not approved in store 'x'")
    both = {"allowed_algorithms": ["a/b", "c/d"], "allowed_algorithm_stores": ["https://s"]}
    assert _check(both, image="a/b", store=yes)
    assert not _check(both, image="a/b", store=no)
    assert not _check(both, image="e/f", store=yes)
    either = {**both, "allowed_algorithms": ["a/b"], "allow_either_whitelist_or_store": True}
    assert _check(either, image="c/d", store=yes)
    assert _check(either, image="a/b", store=None)
    assert not _check(either, image="c/d", store=no)
    stores_only = {"allowed_algorithm_stores": ["https://s"]}
    assert not _check(stores_only, image="a/b", store=None)
    # the store's pinned reference is what runs; its refusal is the reason given
    checker = PolicyChecker(Policies(**stores_only))
    assert checker.check(TaskOrigin(image="a/b", store=yes)).image == yes.image
    assert checker.check(TaskOrigin(image="a/b", store=no)).reason == no.reason
    assert store_allowed([r"https://.*\.example\.org"], "https://store.example.org")
    assert store_allowed(["https://s/"], "https://s")
    assert not store_allowed(["https://s"], None)


DIGEST_A = "sha256:" + "a" * 64
DIGEST_B = "sha256:" + "b" * 64


def _digests(table: dict[str, str]):
    """A digest lookup over a fixed table; unknown references are a registry error."""

    def digest_of(image: str) -> str:
        if "@" in image:
            return image.split("@", 1)[1]
        if image not in table:
            raise RegistryError(f"registry cannot be reached for {image}")
        return table[image]

    return digest_of


@pytest.mark.parametrize(
    ("entry", "image", "table", "pinned"),
    [
        # same name, other tag: allowed when both tags point to the same digest (pinned then)
        (
            "r.io/a:1.0",
            "r.io/a:latest",
            {"r.io/a:1.0": DIGEST_A, "r.io/a:latest": DIGEST_A},
            f"r.io/a@{DIGEST_A}",
        ),
        ("r.io/a:1.0", "r.io/a:latest", {"r.io/a:1.0": DIGEST_A, "r.io/a:latest": DIGEST_B}, None),
        # a task pinned to a digest matches a tag entry pointing to that digest
        ("r.io/a:1.0", f"r.io/a@{DIGEST_A}", {"r.io/a:1.0": DIGEST_A}, f"r.io/a@{DIGEST_A}"),
        ("r.io/a:1.0", f"r.io/a:1.0@{DIGEST_B}", {"r.io/a:1.0": DIGEST_A}, None),
        # a digest entry allows the tag that points to it
        (f"r.io/a@{DIGEST_A}", "r.io/a:2", {"r.io/a:2": DIGEST_A}, f"r.io/a@{DIGEST_A}"),
        # no registry answer: not allowed
        ("r.io/a:1.0", "r.io/a:2", {}, None),
        # another name is never compared
        ("r.io/b:1.0", "r.io/a:1.0", {"r.io/a:1.0": DIGEST_A, "r.io/b:1.0": DIGEST_A}, None),
    ],
)
def test_tag_entries_compare_digests(entry, image, table, pinned):
    checker = PolicyChecker(Policies(allowed_algorithms=[entry]), digest_of=_digests(table))
    decision = checker.check(TaskOrigin(image=image))
    assert decision.allowed is (pinned is not None), decision
    if pinned:
        assert decision.image == pinned
    else:
        assert "allowed_algorithms" in decision.reason


def test_tag_entries_without_a_registry_match_only_exactly():
    checker = PolicyChecker(Policies(allowed_algorithms=["r.io/a:1.0"]))
    assert checker.check(TaskOrigin(image="r.io/a:1.0")).image == "r.io/a:1.0"
    assert not checker.check(TaskOrigin(image="r.io/a:2")).allowed


def test_denial_reason_names_the_policy():
    decision = PolicyChecker(Policies(allowed_algorithms=["x"])).check(TaskOrigin(image="y"))
    assert not decision.allowed and "allowed_algorithms" in decision.reason


# -- environment -------------------------------------------------------------------------------


@pytest.fixture
def node_config(tmp_path):
    (tmp_path / "a.csv").write_text("x\n1\n")
    (tmp_path / "b.parquet").write_bytes(b"PAR1")
    (tmp_path / "c.xlsx").write_bytes(b"x")
    (tmp_path / "d.sqlite").write_bytes(b"")
    return parse_config(
        {
            "api_key": "k",
            "server_url": "http://x",
            "databases": [
                {"label": "default", "uri": "a.csv", "type": "csv"},
                {"label": "pq", "uri": "b.parquet", "type": "parquet"},
                {"label": "xl", "uri": "c.xlsx", "type": "excel"},
                {"label": "lite", "uri": "sqlite:///d.sqlite", "type": "sql"},
                {
                    "label": "pg",
                    "uri": "postgresql://u:secret@db.internal:6543/clinic",
                    "type": "sql",
                    "env": {"schema": "public"},
                },
            ],
            "algorithm_env": {"EXTRA": "yes"},
        },
        tmp_path,
    )


def test_environment_of_a_run(node_config, tmp_path):
    requested = [
        {"label": "default", "parameters": json.dumps({"preprocessing": [{"f": 1}]})},
        {"label": "xl", "parameters": {"sheet_name": "Sheet2"}},
        {"label": "lite", "parameters": {"query": "SELECT * FROM t"}},
        {"label": "pg"},
        {"label": "nope"},
    ]
    plan = build_plan(node_config, requested)
    env = plan.env
    assert env["INPUT_FILE"] == "/mnt/data/input"
    assert env["OUTPUT_FILE"] == "/mnt/data/output"
    assert env["TOKEN_FILE"] == "/mnt/data/token"
    assert env["TEMPORARY_FOLDER"] == "/mnt/tmp"
    assert (env["HOST"], env["PORT"], env["API_PATH"]) == ("http://127.0.0.1", "8080", "")
    assert env["USER_REQUESTED_DATABASE_LABELS"] == "default,xl,lite,pg,nope"
    assert env["DB_LABELS"] == "default,xl,lite,pg"
    assert env["DEFAULT_DATABASE_URI"] == "/mnt/db/default.csv"
    assert env["DEFAULT_DATABASE_TYPE"] == "csv"
    assert json.loads(env["DEFAULT_PREPROCESSING"]) == [{"f": 1}]
    assert env["XL_SHEET_NAME"] == "Sheet2"
    assert env["XL_DATABASE_URI"] == "/mnt/db/xl.xlsx"
    assert env["LITE_QUERY"] == "SELECT * FROM t"
    assert env["LITE_DATABASE_URI"] == "sqlite:////mnt/db/lite.sqlite"
    assert env["PG_DATABASE_URI"] == "postgresql://u:secret@127.0.0.1:15404/clinic"
    assert env["PG_DB_PARAM_SCHEMA"] == "public"
    assert env["EXTRA"] == "yes"
    # only the requested databases are mounted, read-only targets under /mnt/db
    assert {m.target for m in plan.mounts} == {
        "/mnt/db/default.csv",
        "/mnt/db/xl.xlsx",
        "/mnt/db/lite.sqlite",
    }
    assert "PQ_DATABASE_URI" not in env
    assert [(r.label, r.host, r.port, r.local_port) for r in plan.relays] == [
        ("pg", "db.internal", 6543, 15404)
    ]
    assert any("nope" in w for w in plan.warnings)
    # every value base32-encoded the vantage6 way
    encoded = plan.encoded_env
    assert encoded["HOST"] != env["HOST"]
    assert all(decode_env_value(encoded[k]) == v for k, v in env.items())
    assert all("=" not in v for v in encoded.values())


def test_relays_for_all_network_databases(node_config):
    assert [r.label for r in database_relays(node_config)] == ["pg"]


# -- run folder --------------------------------------------------------------------------------


def test_run_folder_lifecycle(tmp_path):
    store = RunStore(tmp_path)
    folder = store.folder(42)
    state = RunState(run_id=42, task_id=7, image="img", phase=PHASE_RUNNING, attempts=1)
    folder.create()
    folder.save_state(state)
    folder.prepare_io(b'{"method": "x"}', "tok")
    assert folder.input_file.read_bytes() == b'{"method": "x"}'
    assert folder.token_file.read_text() == "tok"
    assert folder.output_file.read_bytes() == b""
    assert stat.S_IMODE(os.stat(folder.path).st_mode) == 0o700
    (folder.tmp_dir / "left-over").write_text("x")
    folder.prepare_io(b"{}", "tok2")
    assert list(folder.tmp_dir.iterdir()) == []  # every attempt gets an empty /mnt/tmp

    folder.output_file.write_bytes(b'"result"')
    folder.save_report(Report("completed", "2024-01-01T00:00:00+00:00", has_result=True), "log")
    loaded = folder.load_report()
    assert loaded.status == "completed" and loaded.log == "log" and loaded.has_result
    assert folder.read_output() == b'"result"'
    assert [s.run_id for s in store.all_states()] == [42]
    assert store.all_states()[0].phase == PHASE_RUNNING
    folder.remove_payload()
    assert folder.exists() and not folder.io_dir.exists() and folder.load_report() is None


def test_state_ignores_unknown_fields(tmp_path):
    store = RunStore(tmp_path)
    folder = store.folder(1)
    folder.path.mkdir(parents=True)
    folder.state_file.write_text(json.dumps({"run_id": 1, "task_id": 2, "image": "i", "new": 1}))
    assert folder.load_state().task_id == 2
    folder.state_file.write_text("{broken")
    assert folder.load_state() is None


# -- encryption --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    root = tmp_path_factory.mktemp("keys")
    paths = []
    for name in ("ours", "theirs"):
        path = root / f"{name}.pem"
        crypto.save_private_key(crypto.generate_private_key(2048), path)
        paths.append(path)
    return paths


def test_plain_collaboration(tmp_path):
    enc = NodeEncryption(EncryptionConfig(), tmp_path / "key.pem")
    enc.setup(False)
    data, scheme = enc.decrypt_input(base64.b64encode(b'{"a": 1}').decode())
    assert data == b'{"a": 1}' and scheme is None
    assert enc.encrypt_for(b"xyz", None) == base64.b64encode(b"xyz").decode()
    assert enc.public_key_b64 is None


def test_encrypted_collaboration_needs_encryption_enabled(tmp_path):
    enc = NodeEncryption(EncryptionConfig(enabled=False), tmp_path / "key.pem")
    with pytest.raises(EncryptionMismatch, match="encryption.enabled"):
        enc.setup(True)


def test_missing_configured_key_is_an_error(tmp_path):
    enc = NodeEncryption(EncryptionConfig(enabled=True, private_key=tmp_path / "no.pem"), tmp_path)
    with pytest.raises(EncryptionMismatch, match="does not exist"):
        enc.setup(True)


@pytest.mark.parametrize(
    ("setting", "written"),
    [("vantage6", crypto.SCHEME_V6), ("authenticated", crypto.SCHEME_GCM)],
)
def test_encrypted_round_trip_in_the_collaboration_format(keys, setting, written):
    """Input in either accepted format is read; everything written is in the collaboration's
    declared format, whatever format the input came in."""
    ours, theirs = keys
    enc = NodeEncryption(EncryptionConfig(enabled=True, private_key=ours), ours)
    enc.setup(True, SchemePolicy(setting))
    peer = crypto.Cryptor(theirs)
    for scheme in enc.policy.accepted:
        payload = peer.encrypt_bytes_to_str(b"secret input", enc.public_key_b64, scheme=scheme)
        data, seen = enc.decrypt_input(payload)
        assert data == b"secret input" and seen == scheme
        result = enc.encrypt_for(b"result", peer.public_key_str)
        assert crypto.detect_scheme(result) == written
        assert peer.decrypt_str_to_bytes(result) == b"result"
    assert enc.public_key_matches(enc.public_key_b64)
    assert not enc.public_key_matches(peer.public_key_str)


def test_authenticated_collaboration_refuses_vantage6_format(keys):
    ours, theirs = keys
    enc = NodeEncryption(EncryptionConfig(enabled=True, private_key=ours), ours)
    enc.setup(True, SchemePolicy("authenticated"))
    payload = crypto.Cryptor(theirs).encrypt_bytes_to_str(b"x", enc.public_key_b64)
    with pytest.raises(DowngradeRefused, match="requires the authenticated format"):
        enc.decrypt_input(payload)
    with pytest.raises(DowngradeRefused):
        enc.decrypt_result(payload)
    # a later change of the setting is followed (the node refreshes it at each catch-up)
    enc.set_policy(SchemePolicy("vantage6"))
    assert enc.decrypt_input(payload)[0] == b"x"


def test_require_authenticated_refuses_vantage6_format(keys):
    ours, theirs = keys
    enc = NodeEncryption(
        EncryptionConfig(enabled=True, private_key=ours, require_authenticated=True), ours
    )
    enc.setup(True, SchemePolicy("vantage6"))
    assert enc.write_scheme == crypto.SCHEME_GCM
    payload = crypto.Cryptor(theirs).encrypt_bytes_to_str(b"x", enc.public_key_b64)
    with pytest.raises(crypto.DecryptionError):
        enc.decrypt_input(payload)


def test_a_fixed_scheme_in_the_configuration_is_refused():
    with pytest.raises(ValueError, match="encryption_scheme"):
        EncryptionConfig(enabled=True, scheme="gcm-oaep")


# -- exit watcher ------------------------------------------------------------------------------


def test_exit_watcher(tmp_path):
    import asyncio

    from vantage6_runtime_podman.exits import ExitWatcher

    async def scenario():
        watcher = ExitWatcher(tmp_path)
        watcher.start()
        try:
            later = watcher.exited("abc123")
            other = watcher.exited("def456")
            assert not later.done()
            (tmp_path / "abc123.tmp").write_text("3")
            (tmp_path / "abc123.tmp").rename(tmp_path / "abc123")
            assert await asyncio.wait_for(later, 2) == 3
            assert not other.done()
            (tmp_path / "ghi789").write_text("0")
            assert (await asyncio.wait_for(watcher.exited("ghi789"), 1)) == 0  # already there
            watcher.forget("def456", other)
        finally:
            watcher.close()

    asyncio.run(scenario())
