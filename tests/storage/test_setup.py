"""The server's part of ``large_result_store``: the blob policy keys beside the backend's."""

from __future__ import annotations

from pathlib import Path

import pytest

from vantage6_server.settings import ServerSettings
from vantage6_server.storage import StorageConfigError
from vantage6_server.storage.setup import blob_policy, build_storage


def _settings(tmp_path: Path, **section: object) -> ServerSettings:
    return ServerSettings(
        database_uri=f"sqlite:///{tmp_path / 'server.sqlite'}",
        large_result_store={"type": "filesystem", "path": str(tmp_path / "blobs"), **section},
    )


def test_policy_keys_are_the_servers_and_the_rest_the_backends(tmp_path: Path) -> None:
    settings = _settings(
        tmp_path, quota_mib_per_collaboration=1.5, orphan_upload_minutes=5, sweep_interval_minutes=1
    )
    policy = blob_policy(settings)
    assert policy.quota_bytes == int(1.5 * 1024 * 1024)
    assert (policy.orphan_upload_minutes, policy.sweep_interval_minutes) == (5, 1)
    backend = build_storage(settings)
    assert backend is not None and type(backend).name == "filesystem"
    backend.close()


def test_defaults_without_a_store_or_policy_keys(tmp_path: Path) -> None:
    assert blob_policy(_settings(tmp_path)).quota_bytes is None
    no_store = ServerSettings(database_uri=f"sqlite:///{tmp_path / 's.sqlite'}")
    assert build_storage(no_store) is None
    assert blob_policy(no_store).orphan_upload_minutes == 1440


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("quota_mib_per_collaboration", -1),
        ("orphan_upload_minutes", 0),
        ("sweep_interval_minutes", "x"),
    ],
)
def test_a_bad_policy_value_is_one_line_naming_the_key(
    tmp_path: Path, key: str, value: object
) -> None:
    with pytest.raises(StorageConfigError, match=f"large_result_store: {key}") as caught:
        build_storage(_settings(tmp_path, **{key: value}))
    assert "\n" not in str(caught.value)


def test_a_typo_is_still_caught_by_the_backend(tmp_path: Path) -> None:
    with pytest.raises(StorageConfigError, match="quota_mib_per_colaboration"):
        build_storage(
            _settings(tmp_path, quota_mib_per_colaboration=1, quota_mib_per_colaboration_=1)
        )
