"""Build the ASGI application: FastAPI routes under ``/api`` plus Socket.IO."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

import socketio
from fastapi import FastAPI

from vantage6_common import WIRE_VERSION
from vantage6_common.service.app import create_api
from vantage6_common.service.database import Database
from vantage6_common.service.migrate import upgrade_to_head
from vantage6_server.api.errors import ERROR_RESPONSES, document_errors, install_error_handlers
from vantage6_server.api.headers import SecurityHeaders
from vantage6_server.api.limits import BodySizeLimit
from vantage6_server.api.routes import ALL_ROUTERS
from vantage6_server.api.static import StaticAnswers
from vantage6_server.api.throttle import AuthRateLimit
from vantage6_server.bootstrap import ensure_root, ensure_rules_and_roles, ensure_secret
from vantage6_server.context import ServerContext
from vantage6_server.db.migrate import MIGRATIONS_DIR
from vantage6_server.db.sqlite_writes import serialize_writes
from vantage6_server.events.emitter import EventEmitter
from vantage6_server.events.socket import (
    TasksNamespace,
    mark_stale_nodes_offline,
    revalidate_users,
)
from vantage6_server.mail import Mailer
from vantage6_server.rbac import user_cache
from vantage6_server.security.ratelimit import RateLimiter
from vantage6_server.security.tokens import TokenIssuer
from vantage6_server.services.blob_sweep import sweep_periodically
from vantage6_server.settings import ServerSettings
from vantage6_server.storage.setup import blob_policy, build_storage

log = logging.getLogger(__name__)


def prepare_database(settings: ServerSettings) -> tuple[Database, str]:
    """Migrate, seed rules/roles/root, and return the database and JWT secret."""
    db = Database(settings.database_uri, on_sqlite_file=serialize_writes)
    upgrade_to_head(MIGRATIONS_DIR, db.engine)
    with db.session() as session:
        ensure_rules_and_roles(session)
        ensure_root(session)
        secret = ensure_secret(session, settings.jwt_secret)
    return db, secret


def _socket_server(settings: ServerSettings) -> socketio.AsyncServer:
    manager = None
    if settings.rabbitmq_uri:
        manager = socketio.AsyncAioPikaManager(settings.rabbitmq_uri)
    return socketio.AsyncServer(
        async_mode="asgi",
        cors_allowed_origins=settings.cors_origins or [],
        client_manager=manager,
        logger=False,
        engineio_logger=False,
    )


def create_app(settings: ServerSettings | None = None) -> SecurityHeaders:
    """The full server as one ASGI app (REST + OpenAPI docs + Socket.IO).

    Outermost first: security headers, per-client limits on the authentication endpoints,
    fixed answers, Socket.IO, then FastAPI with CORS and the body size limit.
    """
    settings = settings or ServerSettings()
    db, secret = prepare_database(settings)
    if not settings.rabbitmq_uri:
        # the only server on this database: it sees every write to its users and their rules
        user_cache.install(db.engine)
    sio = _socket_server(settings)
    ctx = ServerContext(
        settings=settings,
        db=db,
        tokens=TokenIssuer(secret, settings.access_token_minutes, settings.refresh_token_minutes),
        events=EventEmitter(sio),
        mailer=Mailer(settings.smtp),
        limiter=RateLimiter(
            {
                "auth": settings.rate_limit_auth,
                "recover": settings.rate_limit_recover,
                "recover_target": settings.rate_limit_recover_target,
            }
        ),
        storage=build_storage(settings),
        blob_policy=blob_policy(settings),
    )
    namespace = TasksNamespace(ctx)
    sio.register_namespace(namespace)

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        ctx.events.bind(asyncio.get_running_loop())
        sweepers = [
            asyncio.create_task(mark_stale_nodes_offline(ctx)),
            asyncio.create_task(revalidate_users(namespace)),
        ]
        if ctx.storage is not None:
            sweepers.append(
                asyncio.create_task(sweep_periodically(ctx.db, ctx.storage, ctx.blob_policy))
            )
        yield
        for sweeper in sweepers:
            sweeper.cancel()
        db.engine.dispose()
        if ctx.storage is not None:
            ctx.storage.close()

    api = settings.api_path
    app = create_api(
        title="vantage6-compatible server",
        ctx=ctx,
        api_path=api,
        routers=ALL_ROUTERS,
        cors_origins=settings.cors_origins,
        redoc=True,
        lifespan=lifespan,
        responses=ERROR_RESPONSES,
    )
    install_error_handlers(app)
    document_errors(app)
    app.add_middleware(
        BodySizeLimit,
        max_bytes=settings.max_body_bytes,
        streamed_paths=frozenset({f"{api}/blobstream"} if ctx.storage else ()),
    )
    full = socketio.ASGIApp(sio, other_asgi_app=app, socketio_path="socket.io")
    static = {
        f"{api}/version": {"version": WIRE_VERSION},
        f"{api}/blobstream/status": {"blob_store_enabled": ctx.storage is not None},
    }
    any_origin = "*" in settings.cors_origins
    answers = StaticAnswers(full, static, any_origin=any_origin)
    limited = AuthRateLimit(answers, ctx.limiter, api, any_origin=any_origin)
    return SecurityHeaders(limited, docs_paths={f"{api}/docs", f"{api}/redoc"})
