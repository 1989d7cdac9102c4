"""The server's long-lived parts, created once per app and shared by all requests."""

from __future__ import annotations

from dataclasses import dataclass, field

from vantage6_common.service.database import Database
from vantage6_server.events.emitter import EventEmitter
from vantage6_server.mail import Mailer
from vantage6_server.security.ratelimit import RateLimiter
from vantage6_server.security.tokens import TokenIssuer
from vantage6_server.services.background import BackgroundJobs
from vantage6_server.settings import ServerSettings
from vantage6_server.storage.base import StorageBackend
from vantage6_server.storage.setup import BlobPolicy


@dataclass
class ServerContext:
    settings: ServerSettings
    db: Database
    tokens: TokenIssuer
    events: EventEmitter
    mailer: Mailer
    limiter: RateLimiter = field(default_factory=lambda: RateLimiter({}))
    jobs: BackgroundJobs = field(default_factory=BackgroundJobs)
    storage: StorageBackend | None = None  # the blob store (/blobstream); None: disabled
    blob_policy: BlobPolicy = field(default_factory=BlobPolicy)  # quota, orphan sweep
