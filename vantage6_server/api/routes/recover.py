"""Password change, password and 2FA recovery by e-mail, and new node API keys.

Recovery answers are identical, and take the same time, whether or not the user exists: the
request only looks the user up; the reset token is stored and mailed by a background job.
Each account gets at most ``rate_limit_recover_target`` mails (more requests are answered the
same but send nothing); the middleware limits each client (``rate_limit_recover``).
"""

from __future__ import annotations

import datetime as dt

from fastapi import APIRouter
from pydantic import Field
from sqlalchemy import or_, select

from vantage6_server import serialize
from vantage6_server.api.common import IdBody, LenientBody, get_or_404
from vantage6_server.api.deps import Ctx, Db, UserAuth
from vantage6_server.api.errors import bad_request, unauthorized
from vantage6_server.api.routes.token import user_token_pair
from vantage6_server.api.schemas import Message, NodeWithKey, PasswordChanged, answers
from vantage6_server.context import ServerContext
from vantage6_server.db import models as m
from vantage6_server.rbac import policy
from vantage6_server.rbac.catalog import Operation
from vantage6_server.security import lockout
from vantage6_server.security.passwords import hash_password, password_problems, verify_password
from vantage6_server.security.secrets_util import digest, new_api_key, new_token

router = APIRouter(tags=["Account recovery"])
SENT = "If the account exists, an e-mail with instructions has been sent"


class LostBody(LenientBody):
    username: str | None = Field(None, max_length=128)
    email: str | None = Field(None, max_length=256)


class LostPasswordBody(LostBody):
    pass


class ResetPassword(LenientBody):
    reset_token: str = Field(min_length=10, max_length=512)
    password: str = Field(min_length=1, max_length=1024)


class ResetTwoFactor(LenientBody):
    reset_token: str = Field(min_length=10, max_length=512)


class ChangePassword(LenientBody):
    current_password: str = Field(min_length=1, max_length=1024)
    new_password: str = Field(min_length=1, max_length=1024)


def _find_user(session, username: str | None, email: str | None) -> m.User | None:
    conditions = []
    if username:
        conditions.append(m.User.username == username)
    if email:
        conditions.append(m.User.email == email)
    return session.scalar(select(m.User).where(or_(*conditions)))


def _issue_later(ctx: ServerContext, body: LostBody, purpose: str, subject: str, text: str) -> dict:
    """Answer at once; find the account, store its token and mail it in the background.

    Nothing that depends on the account happens before the answer (GHSA-5h3x-6gwf-73jm,
    CVE-2024-21671): neither the answer nor its time tells whether the account exists.
    """
    if not body.username and not body.email:
        raise bad_request("Give a username or an email", {"username": ["or email required"]})
    username, email = body.username, body.email
    ctx.jobs.submit(lambda: _issue(ctx, username, email, purpose, subject, text))
    return {"msg": SENT}


def _issue(
    ctx: ServerContext,
    username: str | None,
    email: str | None,
    purpose: str,
    subject: str,
    text: str,
) -> None:
    """Store a recovery token for the account, if there is one, and mail it (background).

    Mails per account are limited; an account is counted once whether it is named by
    username or e-mail address.
    """
    with ctx.db.session() as session:
        user = _find_user(session, username, email)
        if user is None or ctx.limiter.hit("recover_target", f"user {user.id}") is not None:
            return
        token = new_token()
        expires = m.utcnow() + dt.timedelta(minutes=ctx.settings.recovery_token_minutes)
        session.add(
            m.RecoveryToken(
                digest=digest(token), user_id=user.id, purpose=purpose, expires_at=expires
            )
        )
        session.commit()
        address, name = user.email, user.username
    ctx.mailer.send(address, subject, text.format(token=token, username=name))


def _redeem(session, token: str, purpose: str) -> m.User:
    record = session.scalar(
        select(m.RecoveryToken).where(
            m.RecoveryToken.digest == digest(token), m.RecoveryToken.purpose == purpose
        )
    )
    if record is None or record.used or record.expires_at < m.utcnow():
        raise bad_request("The reset token is invalid or has expired")
    record.used = True
    return session.get(m.User, record.user_id)


@router.post("/recover/lost", summary="E-mail a password reset token", **answers(Message))
def lost_password(body: LostPasswordBody, ctx: Ctx) -> dict:
    return _issue_later(
        ctx,
        body,
        "password",
        "Password reset",
        "Hello {username},\n\nUse this token to reset your password:\n\n{token}\n\n"
        "If you did not ask for this, ignore this mail.\n",
    )


@router.post(
    "/recover/reset", summary="Reset a password with an e-mailed token", **answers(Message)
)
def reset_password(body: ResetPassword, session: Db) -> dict:
    problems = password_problems(body.password)
    if problems:
        raise bad_request("Password is not strong enough", {"password": problems})
    user = _redeem(session, body.reset_token, "password")
    user.password_hash = hash_password(body.password)
    user.failed_login_attempts = 0
    user.token_version += 1
    session.commit()
    return {"msg": "The password has been reset"}


@router.post("/recover/2fa/lost", summary="E-mail a two-factor reset token", **answers(Message))
def lost_two_factor(body: LostBody, ctx: Ctx) -> dict:
    return _issue_later(
        ctx,
        body,
        "2fa",
        "Two-factor authentication reset",
        "Hello {username},\n\nUse this token to reset two-factor authentication:\n\n{token}\n",
    )


@router.post("/recover/2fa/reset", summary="Reset two-factor authentication", **answers(Message))
def reset_two_factor(body: ResetTwoFactor, session: Db) -> dict:
    user = _redeem(session, body.reset_token, "2fa")
    user.otp_secret = None
    user.otp_confirmed = False
    user.otp_last_step = None
    user.token_version += 1
    session.commit()
    return {"msg": "Two-factor authentication has been reset; log in to set it up again"}


@router.patch("/password/change", summary="Change your own password", **answers(PasswordChanged))
def change_password(body: ChangePassword, user: UserAuth, ctx: Ctx, session: Db) -> dict:
    """Wrong current passwords count toward the login lockout. The change ends every session
    of the user; the answer carries a new token pair for the caller."""
    db_user = session.get(m.User, user.id)
    password_ok = verify_password(db_user.password_hash, body.current_password)
    now = m.utcnow()
    if lockout.is_locked(db_user, ctx.settings, now):
        raise unauthorized(lockout.FAILED)
    if not password_ok:
        lockout.record_failure(db_user, ctx.settings, now)
        session.commit()
        raise unauthorized(lockout.FAILED)
    if body.new_password == body.current_password:
        raise bad_request("The new password must differ from the current one")
    problems = password_problems(body.new_password)
    if problems:
        raise bad_request("Password is not strong enough", {"new_password": problems})
    db_user.password_hash = hash_password(body.new_password)
    db_user.token_version += 1
    lockout.record_success(db_user, now)
    session.commit()
    return {"msg": "The password has been changed", **user_token_pair(ctx, db_user)}


@router.post("/recover/node", summary="Give a node a new API key", **answers(NodeWithKey))
def reset_node_key(body: IdBody, user: UserAuth, session: Db) -> dict:
    node = get_or_404(session, m.Node, body.id, "Node")
    policy.ensure(user, Operation.EDIT, "node", node)
    api_key = new_api_key()
    node.api_key_digest = digest(api_key)
    session.commit()
    return {**serialize.node(node), "api_key": api_key}
