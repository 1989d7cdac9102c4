"""Every rule the server knows and the default roles built from them (as in vantage6 4.x)."""

from __future__ import annotations

from enum import StrEnum
from typing import NamedTuple


class Operation(StrEnum):
    VIEW = "view"
    EDIT = "edit"
    CREATE = "create"
    DELETE = "delete"
    SEND = "send"
    RECEIVE = "receive"


class Scope(StrEnum):
    OWN = "own"
    ORGANIZATION = "organization"
    COLLABORATION = "collaboration"
    GLOBAL = "global"

    @property
    def rank(self) -> int:
        return _SCOPE_RANK[self]


_SCOPE_RANK = {
    Scope.OWN: 0,
    Scope.ORGANIZATION: 1,
    Scope.COLLABORATION: 2,
    Scope.GLOBAL: 3,
}


class RuleSpec(NamedTuple):
    resource: str
    scope: Scope
    operation: Operation
    for_node: bool = False
    for_container: bool = False


OWN_, G, C, S = Scope.OWN, Scope.GLOBAL, Scope.COLLABORATION, Scope.ORGANIZATION
V, E, CR, D = Operation.VIEW, Operation.EDIT, Operation.CREATE, Operation.DELETE
SEND, RECV = Operation.SEND, Operation.RECEIVE

RULES: tuple[RuleSpec, ...] = (
    # user
    RuleSpec("user", G, V),
    RuleSpec("user", C, V),
    RuleSpec("user", S, V),
    RuleSpec("user", G, CR),
    RuleSpec("user", C, CR),
    RuleSpec("user", S, CR),
    RuleSpec("user", G, E),
    RuleSpec("user", C, E),
    RuleSpec("user", S, E),
    RuleSpec("user", OWN_, E),
    RuleSpec("user", G, D),
    RuleSpec("user", C, D),
    RuleSpec("user", S, D),
    RuleSpec("user", OWN_, D),
    # organization
    RuleSpec("organization", G, V),
    RuleSpec("organization", S, V, True, True),
    RuleSpec("organization", C, V, True, True),
    RuleSpec("organization", G, E),
    RuleSpec("organization", S, E, True),
    RuleSpec("organization", C, E),
    RuleSpec("organization", G, CR),
    RuleSpec("organization", G, D),
    # collaboration
    RuleSpec("collaboration", G, V),
    RuleSpec("collaboration", S, V, True, True),
    RuleSpec("collaboration", G, E),
    RuleSpec("collaboration", C, E),
    RuleSpec("collaboration", G, CR),
    RuleSpec("collaboration", G, D),
    RuleSpec("collaboration", C, D),
    # role
    RuleSpec("role", G, V),
    RuleSpec("role", C, V),
    RuleSpec("role", S, V),
    RuleSpec("role", G, CR),
    RuleSpec("role", C, CR),
    RuleSpec("role", S, CR),
    RuleSpec("role", G, E),
    RuleSpec("role", C, E),
    RuleSpec("role", S, E),
    RuleSpec("role", G, D),
    RuleSpec("role", C, D),
    RuleSpec("role", S, D),
    # node
    RuleSpec("node", G, V),
    RuleSpec("node", C, V, True, True),
    RuleSpec("node", S, V, True),
    RuleSpec("node", G, E),
    RuleSpec("node", C, E),
    RuleSpec("node", S, E, True),
    RuleSpec("node", G, CR),
    RuleSpec("node", C, CR),
    RuleSpec("node", S, CR),
    RuleSpec("node", G, D),
    RuleSpec("node", C, D),
    RuleSpec("node", S, D),
    # task
    RuleSpec("task", G, V),
    RuleSpec("task", C, V, True, True),
    RuleSpec("task", S, V),
    RuleSpec("task", OWN_, V),
    RuleSpec("task", G, CR),
    RuleSpec("task", C, CR),
    RuleSpec("task", G, D),
    RuleSpec("task", C, D),
    RuleSpec("task", S, D),
    RuleSpec("task", OWN_, D),
    # run
    RuleSpec("run", G, V),
    RuleSpec("run", C, V, True, True),
    RuleSpec("run", S, V),
    RuleSpec("run", OWN_, V),
    # port
    RuleSpec("port", G, V),
    RuleSpec("port", S, V, True, True),
    # study
    RuleSpec("study", G, V),
    RuleSpec("study", S, V, True, True),
    RuleSpec("study", C, V),
    RuleSpec("study", G, E),
    RuleSpec("study", C, E),
    RuleSpec("study", S, E),
    RuleSpec("study", G, CR),
    RuleSpec("study", C, CR),
    RuleSpec("study", G, D),
    RuleSpec("study", C, D),
    RuleSpec("study", S, D),
    # event
    RuleSpec("event", S, RECV),
    RuleSpec("event", C, RECV),
    RuleSpec("event", G, RECV),
    RuleSpec("event", S, SEND),
    RuleSpec("event", C, SEND),
    RuleSpec("event", G, SEND),
)

RuleKey = tuple[str, str, str]  # (resource, scope, operation)


def key(resource: str, scope: Scope, operation: Operation) -> RuleKey:
    return (resource, scope.value, operation.value)


ALL_RULE_KEYS: frozenset[RuleKey] = frozenset(key(r.resource, r.scope, r.operation) for r in RULES)
NODE_RULE_KEYS: frozenset[RuleKey] = frozenset(
    key(r.resource, r.scope, r.operation) for r in RULES if r.for_node
)
CONTAINER_RULE_KEYS: frozenset[RuleKey] = frozenset(
    key(r.resource, r.scope, r.operation) for r in RULES if r.for_container
)

ROOT, VIEWER, RESEARCHER = "Root", "Viewer", "Researcher"
ORG_ADMIN, COL_ADMIN = "Organization Admin", "Collaboration Admin"

_VIEWER = [
    key("user", OWN_, E),
    key("user", OWN_, D),
    key("user", S, V),
    key("organization", S, V),
    key("organization", C, V),
    key("collaboration", S, V),
    key("role", S, V),
    key("node", S, V),
    key("node", C, V),
    key("task", C, V),
    key("run", C, V),
    key("port", S, V),
    key("event", S, RECV),
    key("event", C, RECV),
    key("study", S, V),
]
_RESEARCHER = _VIEWER + [key("task", C, CR), key("task", S, D)]
_ORG_ADMIN = _VIEWER + [
    key("user", S, CR),
    key("user", S, E),
    key("user", S, D),
    key("organization", S, E),
    key("role", S, CR),
    key("role", S, E),
    key("role", S, D),
    key("node", S, CR),
    key("node", S, E),
    key("event", S, SEND),
]
_COL_ADMIN = (
    _ORG_ADMIN
    + [k for k in _RESEARCHER if k not in _ORG_ADMIN]
    + [
        key("user", C, V),
        key("user", C, CR),
        key("user", C, E),
        key("organization", G, V),
        key("organization", C, E),
        key("collaboration", C, E),
        key("role", C, V),
        key("node", C, CR),
        key("node", C, D),
        key("event", C, SEND),
        key("study", C, V),
        key("study", C, CR),
        key("study", C, E),
        key("study", C, D),
    ]
)

DEFAULT_ROLES: dict[str, tuple[str, list[RuleKey]]] = {
    ROOT: ("Super role", sorted(ALL_RULE_KEYS)),
    VIEWER: ("Can manage their own account and view resources of their organization", _VIEWER),
    RESEARCHER: ("Viewer who can also create tasks in their collaborations", _RESEARCHER),
    ORG_ADMIN: ("Manages an organization: its users, roles and nodes", _ORG_ADMIN),
    COL_ADMIN: ("Manages a collaboration; also organization admin and researcher", _COL_ADMIN),
}
