"""Log in: users (password + optional TOTP), nodes (API key), containers; refresh."""

from __future__ import annotations

from fastapi import APIRouter, Request
from pydantic import Field
from sqlalchemy import or_, select, update

from vantage6_common.status import UNFINISHED_STATUSES
from vantage6_server.api.common import LenientBody, get_or_404
from vantage6_server.api.deps import (
    Ctx,
    Db,
    NodeAuth,
    UserAuth,
    bearer_token,
    principal_from_claims,
)
from vantage6_server.api.errors import bad_request, unauthorized
from vantage6_server.api.schemas import (
    ContainerToken,
    NodeTokens,
    TokenValidation,
    TwoFactorSetup,
    UserTokens,
    answers,
)
from vantage6_server.db import models as m
from vantage6_server.rbac import policy
from vantage6_server.security import lockout, refresh_family, totp
from vantage6_server.security.passwords import verify_password
from vantage6_server.security.secrets_util import digest
from vantage6_server.security.tokens import TokenError
from vantage6_server.services.offers import issue_container_token

router = APIRouter(tags=["Authentication"])

LOGIN_FAILED = lockout.FAILED
REFRESH_REUSED = "This refresh token was used before: every session of this account has ended"


class UserLogin(LenientBody):
    username: str = Field(min_length=1, max_length=128)
    password: str = Field(min_length=1, max_length=1024)
    mfa_code: str | int | None = None


class NodeLogin(LenientBody):
    api_key: str = Field(min_length=1, max_length=256)


class ContainerTokenRequest(LenientBody):
    task_id: int = Field(ge=1)
    image: str = Field(min_length=1, max_length=512)


def user_token_pair(ctx, user: m.User, family: str | None = None, generation: int = 0) -> dict:
    extra = {"ver": user.token_version, "roles": [r.name for r in user.roles]}
    tokens = ctx.tokens.pair(user.id, "user", user.token_key, extra, family, generation)
    return {**tokens, "refresh_url": "/api/token/refresh", "user_url": f"/api/user/{user.id}"}


def node_token_pair(ctx, node: m.Node, family: str | None = None, generation: int = 0) -> dict:
    tokens = ctx.tokens.pair(node.id, "node", node.token_key, None, family, generation)
    return {**tokens, "refresh_url": "/api/token/refresh", "node_url": f"/api/node/{node.id}"}


def _use_totp_step(session, user: m.User, code) -> bool:
    """Accept ``code`` once: record its time step, unless that step (or a later one) was
    used before. The conditional update makes two requests with one code race safely."""
    step = totp.accepted_step(user.otp_secret, code, user.otp_last_step)
    if step is None:
        return False
    claimed = session.execute(
        update(m.User)
        .where(
            m.User.id == user.id,
            or_(m.User.otp_last_step.is_(None), m.User.otp_last_step < step),
        )
        .values(otp_last_step=step)
        .execution_options(synchronize_session=False)
    )
    if claimed.rowcount != 1:
        return False
    user.otp_last_step = step
    return True


@router.post("/token/user", summary="Log in as a user", **answers(UserTokens | TwoFactorSetup))
def login_user(body: UserLogin, ctx: Ctx, session: Db) -> dict:
    settings = ctx.settings
    user = session.scalar(select(m.User).where(m.User.username == body.username))
    password_ok = verify_password(user.password_hash if user else None, body.password)
    if user is None:
        raise unauthorized(LOGIN_FAILED)
    now = m.utcnow()
    if lockout.is_locked(user, settings, now):
        raise unauthorized(LOGIN_FAILED)
    if not password_ok:
        lockout.record_failure(user, settings, now)
        session.commit()
        raise unauthorized(LOGIN_FAILED)
    code = None if body.mfa_code is None else str(body.mfa_code)
    if settings.two_factor_auth:
        if not (user.otp_secret and user.otp_confirmed):
            if not user.otp_secret:
                user.otp_secret = totp.new_secret()
            user.failed_login_attempts = 0
            session.commit()
            if code is not None and _use_totp_step(session, user, code):
                user.otp_confirmed = True
                session.commit()
            else:
                return {
                    "qr_uri": totp.provisioning_uri(
                        user.otp_secret, user.username, settings.server_name
                    ),
                    "otp_secret": user.otp_secret,
                    "msg": "Scan this QR code with an authenticator app, then log in again "
                    "with the code it shows as mfa_code",
                }
        elif not _use_totp_step(session, user, code):
            lockout.record_failure(user, settings, now)
            session.commit()
            raise unauthorized("Invalid or missing two-factor authentication code")
    lockout.record_success(user, now)
    session.commit()
    return user_token_pair(ctx, user)


@router.post("/token/node", summary="Log in as a node with its API key", **answers(NodeTokens))
def login_node(body: NodeLogin, request: Request, ctx: Ctx, session: Db) -> dict:
    node = session.scalar(select(m.Node).where(m.Node.api_key_digest == digest(body.api_key)))
    if node is None:
        raise unauthorized("Invalid API key")
    if request.client is not None and node.ip != request.client.host:
        node.ip = request.client.host
        session.commit()
    return node_token_pair(ctx, node)


@router.post(
    "/token/container",
    summary="Token for an algorithm container (nodes only)",
    **answers(ContainerToken),
)
def container_token(body: ContainerTokenRequest, node: NodeAuth, ctx: Ctx, session: Db) -> dict:
    task = get_or_404(session, m.Task, body.task_id, "Task")
    policy.ensure_container_token(node, task)
    if task.status not in UNFINISHED_STATUSES:
        raise bad_request("Task is already finished")
    if body.image != task.image:
        raise unauthorized("Image does not match the task's image")
    record = session.get(m.Node, node.id)  # loaded already, with the principal
    return {"container_token": issue_container_token(ctx.tokens, task, record)}


@router.post(
    "/token/refresh",
    summary="New token pair from a refresh token",
    **answers(UserTokens | NodeTokens),
)
def refresh(request: Request, ctx: Ctx, session: Db) -> dict:
    """Spend a refresh token for a new pair; a spent one presented again ends every session
    of its user or node (a copy of it is in someone else's hands)."""
    try:
        claims = ctx.tokens.decode(bearer_token(request), expected_type="refresh")
    except TokenError as exc:
        raise unauthorized(str(exc)) from exc
    principal = principal_from_claims(claims, session)
    if principal.is_container:
        raise unauthorized("Containers cannot refresh tokens")
    family, generation = claims.get("fam"), claims.get("gen")
    if not isinstance(family, str) or type(generation) is not int:
        raise unauthorized("Invalid refresh token")
    if not refresh_family.spend(session, family, generation, ctx.tokens.refresh_expiry()):
        refresh_family.revoke_subject(session, principal.kind, principal.id)
        session.commit()
        raise unauthorized(REFRESH_REUSED)
    session.commit()
    if principal.is_user:
        user = session.get(m.User, principal.id)
        return user_token_pair(ctx, user, family, generation + 1)
    return node_token_pair(ctx, session.get(m.Node, principal.id), family, generation + 1)


@router.post(
    "/token/user/validate",
    summary="Validate a user token (for the algorithm store)",
    **answers(TokenValidation),
)
def validate_user(user: UserAuth, session: Db) -> dict:
    db_user = session.get(m.User, user.id)
    return {
        "msg": "Token is valid",
        "user_id": db_user.id,
        "username": db_user.username,
        "email": db_user.email,
        "organization_id": db_user.organization_id,
    }
