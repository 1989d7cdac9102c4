"""Blob storage in Azure Blob Storage, configured as vantage6 4.13+ configures its result store."""

from vantage6_storage_azure.backend import AzureSettings, AzureStorage

__all__ = ["AzureSettings", "AzureStorage"]
