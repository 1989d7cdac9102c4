"""The escalation guard: nobody grants or revokes a rule they do not hold themselves."""

from __future__ import annotations

from vantage6_server.api.errors import forbidden
from vantage6_server.db import models as m
from vantage6_server.rbac.principal import Principal


def _missing(principal: Principal, roles: list[m.Role], rules: list[m.Rule]) -> list[str]:
    wanted = {(r.name, r.scope, r.operation) for r in rules}
    for role in roles:
        wanted.update((r.name, r.scope, r.operation) for r in role.rules)
    return sorted(f"{n}:{s}:{o}" for n, s, o in wanted - principal.rule_keys)


def check_can_grant(principal: Principal, roles: list[m.Role], rules: list[m.Rule]) -> None:
    missing = _missing(principal, roles, rules)
    if missing:
        raise forbidden(f"You cannot grant rules you do not have yourself: {', '.join(missing)}")


def check_can_revoke(principal: Principal, roles: list[m.Role], rules: list[m.Rule]) -> None:
    missing = _missing(principal, roles, rules)
    if missing:
        raise forbidden(f"You cannot revoke rules you do not have yourself: {', '.join(missing)}")
