"""``/policy``: the administrator's policies (``/policy/public`` without logging in)."""

from __future__ import annotations

from fastapi import APIRouter

from vantage6_store import policies
from vantage6_store.api.deps import AuthCaller, Ctx

router = APIRouter(tags=["Policy"])


@router.get("/policy", summary="All policies of this store (for users of whitelisted servers)")
def private_policies(ctx: Ctx, caller: AuthCaller) -> dict:
    return policies.as_dict(ctx.settings.policies, include_private=True)


@router.get("/policy/public", summary="The public policies of this store")
def public_policies(ctx: Ctx) -> dict:
    return policies.as_dict(ctx.settings.policies, include_private=False)
