"""Build the store's ASGI application."""

from __future__ import annotations

from fastapi import FastAPI

from vantage6_common.service.app import create_api
from vantage6_common.service.database import Database
from vantage6_common.service.migrate import upgrade_to_head
from vantage6_store.api.routes import ALL_ROUTERS
from vantage6_store.bootstrap import ensure_root
from vantage6_store.context import StoreContext
from vantage6_store.db.migrate import MIGRATIONS_DIR
from vantage6_store.digest import load_resolver
from vantage6_store.errors import install_error_handlers
from vantage6_store.rbac import ensure_rules_and_roles
from vantage6_store.settings import StoreSettings


def prepare_database(settings: StoreSettings) -> Database:
    """Migrate and seed rules, default roles and the root user."""
    db = Database(settings.database_uri)
    upgrade_to_head(MIGRATIONS_DIR, db.engine)
    with db.session() as session:
        ensure_rules_and_roles(session)
        ensure_root(session, settings.root_user)
    return db


def create_app(settings: StoreSettings | None = None) -> FastAPI:
    settings = settings or StoreSettings()
    ctx = StoreContext(
        settings=settings,
        db=prepare_database(settings),
        resolve_digest=load_resolver(settings.digest_resolver),
    )
    app = create_api(
        title="vantage6-compatible algorithm store",
        ctx=ctx,
        api_path=settings.api_path,
        routers=ALL_ROUTERS,
        cors_origins=settings.cors_origins,
    )
    install_error_handlers(app)
    return app
