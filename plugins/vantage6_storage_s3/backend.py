"""S3 storage backend (boto3): streamed multipart uploads, streamed downloads.

A blob smaller than one part is sent with a single ``PutObject``; a larger one as a multipart
upload whose parts are sent as they fill up, completed only when the source is exhausted and
aborted on any error, so the object appears whole or not at all.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pydantic import Field, SecretStr

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
    import boto3
    from botocore.config import Config
    from botocore.exceptions import BotoCoreError, ClientError
except ImportError:  # pragma: no cover - reported when the backend is built
    boto3 = None

MIB = 1024 * 1024
_MISSING = {"404", "NoSuchKey", "NotFound"}


class S3Settings(StorageSettings):
    """An S3 bucket and how to reach it."""

    bucket: str = Field(description="bucket for the blobs (created beforehand)")
    endpoint_url: str | None = Field(
        None, description="endpoint of an S3-compatible store (default: AWS for the region)"
    )
    region: str = Field("us-east-1", description="region of the bucket")
    access_key_id: str | None = Field(
        None, description="access key (default: the AWS credential chain)"
    )
    secret_access_key: SecretStr | None = Field(None, description="secret key")
    prefix: str = Field("", description="key prefix for the blobs, e.g. 'vantage6/'")
    part_size_mib: int = Field(8, ge=5, le=5 * 1024, description="multipart part size in MiB")
    connect_timeout_seconds: float = Field(5, gt=0, description="connect timeout")
    read_timeout_seconds: float = Field(60, gt=0, description="read timeout")
    max_attempts: int = Field(3, ge=1, le=10, description="attempts per request")


class S3Storage(StorageBackend):
    """Blobs as objects ``<prefix><blob id>`` in one bucket."""

    name = "s3"
    Settings = S3Settings

    def __init__(self, settings: S3Settings, context: StorageContext) -> None:
        super().__init__(settings, context)
        if boto3 is None:
            raise StorageConfigError("the s3 storage backend needs boto3 (pip install boto3)")
        secret = settings.secret_access_key
        self._bucket = settings.bucket
        self._client = boto3.session.Session().client(
            "s3",
            endpoint_url=settings.endpoint_url,
            region_name=settings.region,
            aws_access_key_id=settings.access_key_id,
            aws_secret_access_key=secret.get_secret_value() if secret else None,
            config=Config(
                connect_timeout=settings.connect_timeout_seconds,
                read_timeout=settings.read_timeout_seconds,
                retries={"max_attempts": settings.max_attempts, "mode": "standard"},
                s3={"addressing_style": "path" if settings.endpoint_url else "auto"},
            ),
        )

    def _key(self, blob_id: str) -> str:
        return self.settings.prefix + blob_id

    def _unavailable(self, doing: str, exc: Exception) -> StorageUnavailable:
        return StorageUnavailable(f"S3 bucket {self._bucket}: {doing}: {exc}")

    def check(self) -> None:
        try:
            self._client.head_bucket(Bucket=self._bucket)
        except (BotoCoreError, ClientError) as exc:
            raise self._unavailable("not reachable", exc) from exc

    def _write(self, blob_id: str, chunks: Iterator[bytes]) -> int:
        key = self._key(blob_id)
        part_size = self.settings.part_size_mib * MIB
        parts = rechunk(chunks, part_size)
        # A one-item list, so that sending the first part frees it (no local keeps it).
        first = [next(parts, bytearray())]
        if len(first[0]) < part_size:  # the whole blob: one request
            try:
                self._client.put_object(Bucket=self._bucket, Key=key, Body=first[0])
            except (BotoCoreError, ClientError) as exc:
                raise self._unavailable(f"storing {blob_id}", exc) from exc
            return len(first[0])
        return self._write_multipart(key, blob_id, first, parts)

    def _write_multipart(
        self, key: str, blob_id: str, first: list[bytearray], rest: Iterator[bytearray]
    ) -> int:
        """Send ``first`` (emptied) and each part of ``rest`` as it fills, one at a time."""
        try:
            answer = self._client.create_multipart_upload(Bucket=self._bucket, Key=key)
        except (BotoCoreError, ClientError) as exc:
            raise self._unavailable(f"storing {blob_id}", exc) from exc
        upload_id = answer["UploadId"]
        done: list[dict[str, Any]] = []
        size = 0

        def send(part: bytearray) -> None:
            nonlocal size
            number = len(done) + 1
            sent = self._client.upload_part(
                Bucket=self._bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=part
            )
            done.append({"PartNumber": number, "ETag": sent["ETag"]})
            size += len(part)

        try:
            send(first.pop())
            for part in rest:
                send(part)
                del part  # free it before the next one fills
            self._client.complete_multipart_upload(
                Bucket=self._bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": done}
            )
        except BaseException as exc:
            self._abort(key, upload_id)
            if isinstance(exc, BotoCoreError | ClientError):
                raise self._unavailable(f"storing {blob_id}", exc) from exc
            raise
        return size

    def _abort(self, key: str, upload_id: str) -> None:
        try:
            self._client.abort_multipart_upload(Bucket=self._bucket, Key=key, UploadId=upload_id)
        except (BotoCoreError, ClientError):
            pass  # the store is down: it keeps no completed object, parts expire by policy

    def _read(self, blob_id: str, chunk_size: int) -> BlobReader:
        try:
            answer = self._client.get_object(Bucket=self._bucket, Key=self._key(blob_id))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in _MISSING:
                raise BlobNotFound(f"no blob {blob_id}") from None
            raise self._unavailable(f"reading {blob_id}", exc) from exc
        except BotoCoreError as exc:
            raise self._unavailable(f"reading {blob_id}", exc) from exc
        body = answer["Body"]

        def chunks() -> Iterator[bytes]:
            try:
                yield from body.iter_chunks(chunk_size)
            except (BotoCoreError, OSError) as exc:
                raise self._unavailable(f"reading {blob_id}", exc) from exc
            finally:
                body.close()

        return BlobReader(answer["ContentLength"], chunks(), body.close)

    def _delete(self, blob_id: str) -> bool:
        existed = self.exists(blob_id)
        try:
            self._client.delete_object(Bucket=self._bucket, Key=self._key(blob_id))
        except (BotoCoreError, ClientError) as exc:
            raise self._unavailable(f"deleting {blob_id}", exc) from exc
        return existed

    def _size(self, blob_id: str) -> int:
        try:
            answer = self._client.head_object(Bucket=self._bucket, Key=self._key(blob_id))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in _MISSING:
                raise BlobNotFound(f"no blob {blob_id}") from None
            raise self._unavailable(f"looking up {blob_id}", exc) from exc
        except BotoCoreError as exc:
            raise self._unavailable(f"looking up {blob_id}", exc) from exc
        return answer["ContentLength"]

    def ids(self) -> Iterator[str]:
        prefix = self.settings.prefix
        pages = self._client.get_paginator("list_objects_v2").paginate(
            Bucket=self._bucket, Prefix=prefix
        )
        try:
            for page in pages:
                for item in page.get("Contents", []):
                    name = item["Key"][len(prefix) :]
                    if name and "/" not in name:
                        yield name
        except (BotoCoreError, ClientError) as exc:
            raise self._unavailable("listing blobs", exc) from exc

    def close(self) -> None:
        self._client.close()
