"""What every request handler of the store needs."""

from __future__ import annotations

from dataclasses import dataclass

from vantage6_common.service.database import Database
from vantage6_store.digest import DigestResolver
from vantage6_store.settings import StoreSettings


@dataclass
class StoreContext:
    settings: StoreSettings
    db: Database
    resolve_digest: DigestResolver
