"""Blob storage in a local folder: the embedded default, next to the server's data."""

from vantage6_storage_filesystem.backend import FilesystemSettings, FilesystemStorage

__all__ = ["FilesystemSettings", "FilesystemStorage"]
