"""Python client for a vantage6 4.x-compatible server.

>>> from vantage6_client import Client
>>> client = Client("http://localhost", 7601, "/api")
>>> client.authenticate("alice", "password")
>>> client.setup_encryption(None)               # or the organization's private key file
>>> task = client.task.create(collaboration=1, organizations=[2, 3], name="demo",
...                           image="localhost/v6demo", input_={"method": "summary"},
...                           databases=[{"label": "default"}])
>>> results = client.wait_for_results(task["id"])
"""

from vantage6_client.client import Client, UserClient, WhoAmI
from vantage6_client.exceptions import (
    ApiError,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    EncryptionError,
    NotAuthenticatedError,
    NotFoundError,
    PermissionDeniedError,
    ServerConnectionError,
    ServerError,
    TwoFactorSetupRequired,
    V6ClientError,
    WaitTimeoutError,
)
from vantage6_client.transport import Page

__all__ = [
    "Client",
    "UserClient",
    "WhoAmI",
    "Page",
    "ApiError",
    "AuthenticationError",
    "BadRequestError",
    "ConflictError",
    "EncryptionError",
    "NotAuthenticatedError",
    "NotFoundError",
    "PermissionDeniedError",
    "ServerConnectionError",
    "ServerError",
    "TwoFactorSetupRequired",
    "V6ClientError",
    "WaitTimeoutError",
]
