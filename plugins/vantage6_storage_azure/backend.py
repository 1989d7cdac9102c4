"""Azure Blob Storage backend (azure-storage-blob), with vantage6 4.13+'s configuration keys.

An administrator's ``large_result_store`` section from vantage6 4.13+ works unchanged: either
``connection_string`` (Azurite, or a storage account key) or the service principal keys
``tenant_id``, ``client_id``, ``client_secret`` and ``storage_account_name``; and always
``container_name`` (the Azure container, created beforehand).

Uploads are staged as blocks while the source is read and committed as one block list at the
end: until then no blob exists under the id (uncommitted blocks are discarded by Azure), so a
failed upload leaves nothing behind.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

from pydantic import Field, SecretStr, model_validator

from vantage6_server.storage.base import (
    BlobNotFound,
    BlobReader,
    StorageBackend,
    StorageConfigError,
    StorageContext,
    StorageSettings,
    StorageUnavailable,
    rechunk,
)

try:
    from azure.core.exceptions import AzureError, ResourceNotFoundError
    from azure.storage.blob import BlobBlock, BlobServiceClient, LinearRetry
except ImportError:  # pragma: no cover - reported when the backend is built
    BlobServiceClient = None

MIB = 1024 * 1024


class AzureSettings(StorageSettings):
    """An Azure Blob Storage container and the credentials to use it (4.13+ key names)."""

    container_name: str = Field(description="Azure container for the blobs (created beforehand)")
    connection_string: SecretStr | None = Field(
        None, description="storage account connection string (e.g. Azurite's)"
    )
    tenant_id: str | None = Field(None, description="service principal: tenant id")
    client_id: str | None = Field(None, description="service principal: client id")
    client_secret: SecretStr | None = Field(None, description="service principal: secret")
    storage_account_name: str | None = Field(
        None, description="service principal: storage account name"
    )
    block_size_mib: int = Field(
        2, ge=1, le=4000, description="upload block size in MiB (memory: ~2x)"
    )
    download_request_kib: int = Field(
        256, ge=64, le=32 * 1024, description="bytes per download request in KiB (memory: ~10x)"
    )
    timeout_seconds: float = Field(20, gt=0, description="connect and read timeout")
    retries: int = Field(2, ge=0, le=10, description="retries per request (about 1 s apart)")

    @model_validator(mode="after")
    def _one_way_to_sign_in(self) -> AzureSettings:
        principal = [self.tenant_id, self.client_id, self.client_secret, self.storage_account_name]
        if self.connection_string is None and not all(principal):
            raise ValueError(
                "give connection_string, or all of tenant_id, client_id, client_secret and "
                "storage_account_name"
            )
        return self


def _service_client(settings: AzureSettings) -> Any:
    timeouts: dict[str, Any] = {
        "connection_timeout": settings.timeout_seconds,
        "read_timeout": settings.timeout_seconds,
        # The SDK's default waits 15 s and more between retries; a caller should hear sooner.
        "retry_policy": LinearRetry(
            backoff=1,
            retry_total=settings.retries,
            random_jitter_range=0.5,  # type: ignore[arg-type]
        ),
        # Downloads in requests of this size, not a first one of 32 MiB (the default): the SDK
        # briefly needs about nine times a request's size (it sizes a list by the byte count).
        "max_single_get_size": settings.download_request_kib * 1024,
        "max_chunk_get_size": settings.download_request_kib * 1024,
    }
    if settings.connection_string is not None:
        return BlobServiceClient.from_connection_string(
            settings.connection_string.get_secret_value(), **timeouts
        )
    try:
        from azure.identity import ClientSecretCredential
    except ImportError as exc:
        raise StorageConfigError(
            "service principal sign-in needs azure-identity (pip install azure-identity)"
        ) from exc
    assert settings.client_secret is not None  # checked by AzureSettings
    credential = ClientSecretCredential(
        tenant_id=settings.tenant_id,
        client_id=settings.client_id,
        client_secret=settings.client_secret.get_secret_value(),
    )
    return BlobServiceClient(
        account_url=f"https://{settings.storage_account_name}.blob.core.windows.net/",
        credential=credential,
        **timeouts,
    )


class AzureStorage(StorageBackend):
    """Blobs named by their id in one Azure container."""

    name = "azure"
    Settings = AzureSettings

    def __init__(self, settings: AzureSettings, context: StorageContext) -> None:
        super().__init__(settings, context)
        if BlobServiceClient is None:
            raise StorageConfigError(
                "the azure storage backend needs azure-storage-blob (pip install "
                "azure-storage-blob)"
            )
        try:
            self._service = _service_client(settings)
        except ValueError as exc:  # a malformed connection string
            raise StorageConfigError(f"azure storage: {exc}") from exc
        self._container = self._service.get_container_client(settings.container_name)

    def _unavailable(self, doing: str, exc: Exception) -> StorageUnavailable:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return StorageUnavailable(
            f"Azure container {self.settings.container_name}: {doing}: {reason}"
        )

    def check(self) -> None:
        try:
            self._container.get_container_properties()
        except AzureError as exc:
            raise self._unavailable("not reachable", exc) from exc

    def _write(self, blob_id: str, chunks: Iterator[bytes]) -> int:
        blob = self._container.get_blob_client(blob_id)
        blocks: list[BlobBlock] = []
        size = 0
        for part in rechunk(chunks, self.settings.block_size_mib * MIB):
            block_id = base64.b64encode(f"{len(blocks):08d}".encode()).decode()
            try:
                blob.stage_block(block_id, part, length=len(part))
            except AzureError as exc:
                raise self._unavailable(f"storing {blob_id}", exc) from exc
            blocks.append(BlobBlock(block_id=block_id))
            size += len(part)
        try:
            blob.commit_block_list(blocks)
        except AzureError as exc:
            raise self._unavailable(f"storing {blob_id}", exc) from exc
        return size

    def _read(self, blob_id: str, chunk_size: int) -> BlobReader:
        try:
            download = self._container.get_blob_client(blob_id).download_blob()
        except ResourceNotFoundError:
            raise BlobNotFound(f"no blob {blob_id}") from None
        except AzureError as exc:
            raise self._unavailable(f"reading {blob_id}", exc) from exc

        def chunks() -> Iterator[bytes]:
            try:
                for piece in download.chunks():
                    for start in range(0, len(piece), chunk_size):
                        yield piece[start : start + chunk_size]
            except AzureError as exc:
                raise self._unavailable(f"reading {blob_id}", exc) from exc

        return BlobReader(download.size, chunks())

    def _delete(self, blob_id: str) -> bool:
        try:
            self._container.get_blob_client(blob_id).delete_blob()
        except ResourceNotFoundError:
            return False
        except AzureError as exc:
            raise self._unavailable(f"deleting {blob_id}", exc) from exc
        return True

    def _size(self, blob_id: str) -> int:
        try:
            return self._container.get_blob_client(blob_id).get_blob_properties().size
        except ResourceNotFoundError:
            raise BlobNotFound(f"no blob {blob_id}") from None
        except AzureError as exc:
            raise self._unavailable(f"looking up {blob_id}", exc) from exc

    def ids(self) -> Iterator[str]:
        try:
            yield from self._container.list_blob_names()
        except AzureError as exc:
            raise self._unavailable("listing blobs", exc) from exc

    def close(self) -> None:
        self._service.close()
