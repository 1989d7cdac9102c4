"""The administrator's review and visibility policies, as the ``/policy`` endpoints show them."""

from __future__ import annotations

from typing import Any

from vantage6_store.db import models as m
from vantage6_store.settings import ServerUser, StorePolicies

#: policies anyone may read (``/policy/public``)
PUBLIC_POLICIES = ("algorithm_view", "allowed_servers")


def _user_keys(users: list[ServerUser] | None) -> list[str] | None:
    # vantage6's store 4.x keeps these as "username|server url"
    if users is None:
        return None
    return [f"{u.username}|{u.server.rstrip('/')}" for u in users]


def as_dict(policies: StorePolicies, include_private: bool) -> dict[str, Any]:
    """Every policy with its value (defaults included), as vantage6's store 4.x answers."""
    out: dict[str, Any] = {
        "algorithm_view": policies.algorithm_view,
        "allowed_servers": policies.allowed_servers or "all",
    }
    if include_private:
        out |= {
            "allow_localhost": policies.allow_localhost,
            "min_reviewers": policies.min_reviewers,
            "assign_review_own_algorithm": policies.assign_review_own_algorithm,
            "min_reviewing_organizations": policies.min_reviewing_organizations,
            "allowed_reviewers": _user_keys(policies.allowed_reviewers),
            "allowed_review_assigners": _user_keys(policies.allowed_review_assigners),
        }
    return out


def listed(user: m.StoreUser, users: list[ServerUser] | None) -> bool:
    """Whether ``user`` is on a policy list; an unset list allows everyone."""
    if users is None:
        return True
    return f"{user.username}|{user.server.url}" in (_user_keys(users) or [])


def is_localhost(url: str) -> bool:
    host = url.split("://", 1)[-1].split("/", 1)[0].rsplit(":", 1)[0].strip("[]")
    return host in ("localhost", "127.0.0.1", "::1") or host.startswith("127.")
