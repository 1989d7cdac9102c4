"""Blob storage in any S3-compatible object store (AWS S3, MinIO, Ceph, Garage, ...)."""

from vantage6_storage_s3.backend import S3Settings, S3Storage

__all__ = ["S3Settings", "S3Storage"]
