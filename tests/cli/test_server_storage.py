"""``v6 server new`` offers the installed storage backends (``vantage6.storage`` entry points)
and asks for the chosen one's settings, each also a flag ``--storage-<setting>``."""

from __future__ import annotations

import stat
import sys
import textwrap

import pytest
import yaml

from tests.cli.test_server_node import free_port


def _config(v6env, name: str) -> dict:
    return yaml.safe_load((v6env.user_config / "server" / f"{name}.yaml").read_text())


def _new(v6, name: str, *flags: str):
    return v6("server", "new", name, "--port", free_port(), "--no-input", *flags)


def test_the_default_is_a_folder_in_the_data_dir(v6, v6env):
    result = _new(v6, "plain")
    assert result.exit_code == 0, result.output
    section = _config(v6env, "plain")["large_result_store"]
    assert section == {
        "type": "filesystem",
        "path": str(v6env.user_data / "server" / "plain" / "blobs"),
    }


def test_none_keeps_results_in_the_database(v6, v6env):
    result = _new(v6, "db", "--storage", "none")
    assert result.exit_code == 0, result.output
    assert "large_result_store" not in _config(v6env, "db")


def test_s3_settings_from_flags(v6, v6env):
    result = _new(
        v6,
        "s3",
        "--storage",
        "s3",
        "--storage-bucket",
        "results",
        "--storage-endpoint-url",
        "http://127.0.0.1:9000",
        "--storage-access-key-id",
        "AKIA",
        "--storage-secret-access-key",
        "s3cr3t",
        "--storage-part-size-mib",
        "16",
    )
    assert result.exit_code == 0, result.output
    path = v6env.user_config / "server" / "s3.yaml"
    assert _config(v6env, "s3")["large_result_store"] == {
        "type": "s3",
        "bucket": "results",
        "endpoint_url": "http://127.0.0.1:9000",
        "access_key_id": "AKIA",
        "secret_access_key": "s3cr3t",
        "part_size_mib": 16,  # a number, not text; defaults (region, ...) left out
    }
    assert stat.S_IMODE(path.stat().st_mode) == 0o600  # it holds a secret


@pytest.mark.parametrize(
    ("flags", "says"),
    [
        (["--storage", "s3"], "--storage-bucket"),  # required and not given
        (["--storage", "s3", "--storage-bucket", "b", "--storage-part-size-mib", "1"], "5"),
        (["--storage", "azure", "--storage-container-name", "c"], "connection_string"),
        (["--storage", "ftp"], "must be one of"),
        (["--storage", "filesystem", "--storage-bucket", "b"], "not a setting of"),
        (["--storage", "none", "--storage-path", "/x"], "not a setting of"),
    ],
)
def test_wrong_storage_answers_are_one_line(v6, v6env, flags, says):
    result = _new(v6, "bad", *flags)
    assert result.exit_code != 0
    assert "Traceback" not in result.output
    assert says in result.output, result.output
    assert not (v6env.user_config / "server" / "bad.yaml").exists()


def test_a_third_party_backend_is_offered_with_its_settings(v6, v6env, tmp_path, monkeypatch):
    """A package that registers a backend (a dist-info with the entry point) gets its own
    choice and flags, asked like the built-in ones."""
    site = tmp_path / "site"
    (site / "memo_storage-1.0.dist-info").mkdir(parents=True)
    (site / "memo_storage-1.0.dist-info" / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: memo-storage\nVersion: 1.0\n"
    )
    (site / "memo_storage-1.0.dist-info" / "entry_points.txt").write_text(
        "[vantage6.storage]\nmemo = memo_storage:MemoStorage\n"
    )
    (site / "memo_storage.py").write_text(
        textwrap.dedent(
            """
            from pydantic import Field
            from vantage6_server.storage.base import StorageBackend, StorageSettings

            class MemoSettings(StorageSettings):
                shelf: str = Field(description="which shelf to keep blobs on")
                copies: int = Field(1, ge=1, description="copies of each blob")

            class MemoStorage(StorageBackend):
                name = "memo"
                Settings = MemoSettings

                def check(self): ...
                def _write(self, blob_id, chunks): ...
                def _read(self, blob_id, chunk_size): ...
                def _delete(self, blob_id): ...
                def _size(self, blob_id): ...
            """
        )
    )
    monkeypatch.syspath_prepend(str(site))
    help_text = v6("server", "new", "--help").output
    assert "--storage-shelf" in help_text and "[memo] which shelf" in help_text
    result = _new(v6, "memo", "--storage", "memo", "--storage-copies", "0")
    assert result.exit_code != 0 and "--storage-copies" in result.output
    result = _new(
        v6, "memo", "--storage", "memo", "--storage-shelf", "top", "--storage-copies", "2"
    )
    assert result.exit_code == 0, result.output
    assert _config(v6env, "memo")["large_result_store"] == {
        "type": "memo",
        "shelf": "top",
        "copies": 2,
    }
    sys.modules.pop("memo_storage", None)
