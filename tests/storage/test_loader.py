"""Finding and configuring storage backends through the ``vantage6.storage`` entry points."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest

from vantage6_server.storage import (
    StorageConfigError,
    StorageContext,
    StorageSettings,
    UnknownStorage,
    available_backends,
    parse_settings,
    settings_schemas,
    storage_from_config,
)


def test_the_three_backends_are_registered() -> None:
    assert {"filesystem", "s3", "azure"} <= set(available_backends())


def test_every_setting_is_described_for_the_setup_wizard() -> None:
    for name, model in settings_schemas().items():
        assert issubclass(model, StorageSettings), name
        for field_name, field in model.model_fields.items():
            assert field.description, f"{name}.{field_name} has no description"


def test_filesystem_is_the_default_next_to_the_data(tmp_path: Path) -> None:
    backend = storage_from_config({}, StorageContext(data_dir=tmp_path))
    assert type(backend).name == "filesystem"
    assert backend.root == tmp_path / "blobs"
    backend.write("abc", [b"1"])
    assert (tmp_path / "blobs" / "abc").read_bytes() == b"1"


def test_a_vantage6_414_azure_section_is_accepted_as_it_is() -> None:
    """The service principal form from vantage6 4.13+'s server config (no network needed)."""
    settings = parse_settings(
        "azure",
        {
            "container_name": "test-container",
            "tenant_id": "your-tenant-id",
            "client_id": "your-client-id",
            "client_secret": "your-client-secret",
            "storage_account_name": "youraccount",
        },
    )
    assert settings.container_name == "test-container"  # type: ignore[attr-defined]
    assert "your-client-secret" not in repr(settings)


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"type": "nosuch"}, "unknown storage backend 'nosuch'; available: azure"),
        ({"type": ""}, "must name a storage backend"),
        ({"type": "filesystem", "pth": "/tmp"}, "pth: Extra inputs are not permitted"),
        ({"type": "azure", "container_name": "c"}, "give connection_string, or all of"),
        ({"type": "azure", "connection_string": "x"}, "container_name: Field required"),
        ({"type": "s3", "endpoint_url": "http://127.0.0.1:1"}, "bucket: Field required"),
        ({"type": "s3", "bucket": "b", "part_size_mib": 1}, "part_size_mib: Input should be"),
        ({"type": "azure", "container_name": "c", "connection_string": "junk"}, "azure"),
    ],
)
def test_bad_sections_give_one_line_errors(section: dict, message: str, tmp_path: Path) -> None:
    with pytest.raises(StorageConfigError) as caught:
        storage_from_config(section, StorageContext(data_dir=tmp_path))
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_unknown_backend_is_also_a_lookup_error(tmp_path: Path) -> None:
    with pytest.raises(LookupError):
        storage_from_config({"type": "nosuch"}, StorageContext(data_dir=tmp_path))


def _install_package(site: Path, module: str, source: str, entry_points: str) -> None:
    """A minimal installed distribution: a module and its dist-info with entry points."""
    (site / f"{module}.py").write_text(textwrap.dedent(source))
    info = site / f"{module}-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {module}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(textwrap.dedent(entry_points))


def test_a_third_party_backend_is_found_by_its_entry_point(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    site = tmp_path / "site"
    site.mkdir()
    _install_package(
        site,
        "acme_v6_store",
        """
        from vantage6_storage_filesystem import FilesystemStorage

        class AcmeStorage(FilesystemStorage):
            name = "acme"

        NotABackend = object
        """,
        """
        [vantage6.storage]
        acme = acme_v6_store:AcmeStorage
        broken = acme_v6_store:NotABackend
        """,
    )
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.delitem(sys.modules, "acme_v6_store", raising=False)

    assert {"acme", "broken"} <= set(available_backends())
    backend = storage_from_config(
        {"type": "acme", "path": str(tmp_path / "acme")}, StorageContext(data_dir=tmp_path)
    )
    assert type(backend).__name__ == "AcmeStorage"
    backend.write("blob", [b"hello"])
    assert b"".join(backend.read("blob")) == b"hello"
    with pytest.raises(UnknownStorage, match="does not name a StorageBackend"):
        storage_from_config({"type": "broken"}, StorageContext(data_dir=tmp_path))
