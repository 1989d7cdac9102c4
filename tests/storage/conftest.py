"""One storage backend per parameter, each on a real endpoint started by the tests."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.storage.endpoints import Endpoint, azurite_connection_string, start_azurite, start_moto
from vantage6_server.storage import StorageBackend, StorageContext, storage_from_config

BACKENDS = ["filesystem", "s3", "azure"]


@pytest.fixture(scope="session")
def endpoint_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("storage-endpoints")


@pytest.fixture(scope="session")
def moto(endpoint_dir: Path) -> Iterator[Endpoint]:
    endpoint = start_moto(endpoint_dir)
    yield endpoint
    endpoint.stop()


@pytest.fixture(scope="session")
def azurite(endpoint_dir: Path) -> Iterator[Endpoint]:
    endpoint = start_azurite(endpoint_dir)
    yield endpoint
    endpoint.stop()


def s3_section(endpoint: Endpoint) -> dict[str, Any]:
    """A ``large_result_store`` section for a fresh bucket on a moto server."""
    import boto3

    bucket = f"v6-{secrets.token_hex(6)}"
    client = boto3.client(
        "s3",
        endpoint_url=endpoint.url,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )
    client.create_bucket(Bucket=bucket)
    client.close()
    return {
        "type": "s3",
        "bucket": bucket,
        "endpoint_url": endpoint.url,
        "access_key_id": "test",
        "secret_access_key": "test",
        "part_size_mib": 5,
    }


def azure_section(endpoint: Endpoint) -> dict[str, Any]:
    """A vantage6 4.13+ style ``large_result_store`` section for a fresh Azurite container."""
    from azure.storage.blob import BlobServiceClient

    container = f"v6-{secrets.token_hex(6)}"
    connection_string = azurite_connection_string(endpoint)
    with BlobServiceClient.from_connection_string(connection_string) as service:
        service.create_container(container)
    return {"type": "azure", "container_name": container, "connection_string": connection_string}


@dataclass
class StoreUnderTest:
    """A backend plus what the tests need to look behind it."""

    backend: StorageBackend
    section: dict[str, Any]
    leftovers: Callable[[], list[str]]
    """Names of anything the backend keeps besides committed blobs (partial uploads)."""


def _leftovers(backend: StorageBackend) -> Callable[[], list[str]]:
    name = type(backend).name
    if name == "filesystem":
        return lambda: sorted(p.name for p in (backend.root / ".partial").iterdir())
    if name == "s3":
        client, bucket = backend._client, backend.settings.bucket

        def open_uploads() -> list[str]:
            answer = client.list_multipart_uploads(Bucket=bucket)
            return [upload["Key"] for upload in answer.get("Uploads", [])]

        return open_uploads
    # Azure cannot drop staged blocks (it discards them after 7 days); none may be committed.
    return lambda: []


def make_store(name: str, request: pytest.FixtureRequest, tmp_path: Path) -> StoreUnderTest:
    if name == "filesystem":
        section: dict[str, Any] = {"type": "filesystem", "path": str(tmp_path / "blobs")}
    elif name == "s3":
        section = s3_section(request.getfixturevalue("moto"))
    else:
        section = azure_section(request.getfixturevalue("azurite"))
    backend = storage_from_config(section, StorageContext(data_dir=tmp_path))
    return StoreUnderTest(backend, section, _leftovers(backend))


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StoreUnderTest]:
    under_test = make_store(request.param, request, tmp_path)
    yield under_test
    under_test.backend.close()
