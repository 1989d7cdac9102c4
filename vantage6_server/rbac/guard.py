"""The escalation guard: nobody grants, revokes or overrules rules they do not hold."""

from __future__ import annotations

from vantage6_server.db import models as m
from vantage6_server.rbac.catalog import RuleKey
from vantage6_server.rbac.errors import PermissionDenied
from vantage6_server.rbac.principal import Principal


def _missing(principal: Principal, roles: list[m.Role], rules: list[m.Rule]) -> list[str]:
    wanted = {(r.name, r.scope, r.operation) for r in rules}
    for role in roles:
        wanted.update((r.name, r.scope, r.operation) for r in role.rules)
    return _names(wanted - principal.rule_keys)


def _names(keys: set[RuleKey] | frozenset[RuleKey]) -> list[str]:
    return sorted(f"{n}:{s}:{o}" for n, s, o in keys)


def check_can_grant(principal: Principal, roles: list[m.Role], rules: list[m.Rule]) -> None:
    missing = _missing(principal, roles, rules)
    if missing:
        raise PermissionDenied(
            f"You cannot grant rules you do not have yourself: {', '.join(missing)}"
        )


def check_can_revoke(principal: Principal, roles: list[m.Role], rules: list[m.Rule]) -> None:
    missing = _missing(principal, roles, rules)
    if missing:
        raise PermissionDenied(
            f"You cannot revoke rules you do not have yourself: {', '.join(missing)}"
        )


def check_outranks(principal: Principal, target_rules: frozenset[RuleKey]) -> None:
    """Refuse to act on a user who holds rules the principal does not hold."""
    missing = _names(target_rules - principal.rule_keys)
    if missing:
        raise PermissionDenied(
            "You cannot change or delete a user who has rules you do not have yourself: "
            + ", ".join(missing)
        )
