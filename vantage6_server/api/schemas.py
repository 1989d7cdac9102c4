"""Response shapes of the API, for the OpenAPI document (vantage6 4.x shapes).

``serialize`` builds the answers; these models describe them and are never run on a request:
routes declare them through :func:`answers` and :func:`page_of`, which document the model
while the route still sends what it built, unvalidated (the request costs the same).
The schemathesis test checks every answer against them.
"""

from __future__ import annotations

from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, Field

from vantage6_common.service.pagination import PageLinks
from vantage6_server.api.errors import ErrorBody

# -- building blocks ---------------------------------------------------------------------------
ListLink = str
"""A related list as a filtered list's address, e.g. ``/api/node?organization_id=1``."""
Time = str
"""ISO 8601 date and time."""


class Stub(BaseModel):
    """A related object: its id, address and the methods that address takes."""

    id: int
    link: str
    methods: list[str]


class Message(BaseModel):
    msg: str


# -- resources ---------------------------------------------------------------------------------
class Organization(BaseModel):
    id: int
    name: str
    domain: str | None
    address1: str | None
    address2: str | None
    zipcode: str | None
    country: str | None
    public_key: str = Field(description="base64 of a PEM public key; empty when none is set")
    collaborations: ListLink
    nodes: ListLink
    users: ListLink
    tasks: ListLink
    runs: ListLink
    studies: ListLink


class OrganizationView(Organization):
    encryption_schemes: list[str] = Field(
        description="payload formats every node of the organization reads (information only)"
    )


class Collaboration(BaseModel):
    id: int
    name: str
    encrypted: bool
    session_restrict_to_same_image: bool
    encryption_scheme: str | None
    organizations: ListLink | list[Organization] = Field(
        description="the members, embedded with ?include=organizations"
    )
    nodes: ListLink
    tasks: ListLink
    algorithm_stores: ListLink
    studies: ListLink


class Study(BaseModel):
    id: int
    name: str
    collaboration: Stub | None
    organizations: ListLink | list[Organization] = Field(
        description="the members, embedded with ?include=organizations"
    )
    tasks: ListLink


class NodeConfigItem(BaseModel):
    """One value a node shared about itself (``node_info_update``)."""

    key: str
    value: Any
    node_id: int


class Node(BaseModel):
    id: int
    name: str
    type: Literal["node"]
    status: str | None
    ip: str | None
    last_seen: Time | None
    organization: Stub | None
    collaboration: Stub | None
    config: list[NodeConfigItem]


class NodeWithKey(Node):
    api_key: str = Field(description="the node's API key; shown only in this answer")


class Permissions(BaseModel):
    roles: list[int]
    rules: list[int]
    orgs_in_collabs: list[int]


class User(BaseModel):
    id: int
    type: Literal["user"]
    username: str
    email: str | None
    firstname: str | None
    lastname: str | None
    organization: Stub | None
    roles: ListLink
    rules: ListLink
    permissions: Permissions | None = Field(None, description="with ?include_permissions=true")


class Role(BaseModel):
    id: int
    name: str
    description: str | None
    organization: Stub | None
    rules: ListLink
    users: ListLink


class Rule(BaseModel):
    id: int
    name: str
    operation: str
    scope: str
    description: str | None
    users: ListLink
    roles: ListLink


class TaskDatabase(BaseModel):
    label: str | None
    parameters: str = Field(description="the database's parameters as JSON text")


class RunNode(BaseModel):
    """The node that runs a run."""

    id: int
    name: str | None
    status: str | None
    ip: str | None


class Result(BaseModel):
    id: int
    result: str | None
    run: Stub
    task: Stub
    blob_storage_used: bool
    cleanup_at: Time | None


class Run(BaseModel):
    id: int
    input: str | None
    log: str | None
    status: str
    assigned_at: Time | None
    started_at: Time | None
    finished_at: Time | None
    organization: Stub | None
    task: Stub | Task = Field(description="the task, embedded with ?include=task")
    results: Stub | None
    node: RunNode | None
    ports: list[Any]
    blob_storage_used: bool
    cleanup_at: Time | None


class Task(BaseModel):
    id: int
    name: str | None
    description: str | None
    image: str
    status: str
    job_id: int | None
    created_at: Time | None
    finished_at: Time | None
    collaboration: Stub | None
    study: Stub | None
    parent: Stub | None
    init_org: Stub | None
    init_user: Stub | None
    algorithm_store: Stub | None
    databases: list[TaskDatabase]
    runs: ListLink | list[Run] = Field(description="the runs, embedded with ?include=runs")
    results: ListLink | list[Result] = Field(
        description="the results, embedded with ?include=results"
    )
    children: ListLink


Run.model_rebuild()


class TaskStatus(BaseModel):
    status: str


class KillItem(BaseModel):
    task_id: int
    run_id: int
    organization_id: int


class KillAnswer(Message):
    kill_list: list[KillItem]


# -- tokens --------------------------------------------------------------------------------------
class TokenPair(BaseModel):
    access_token: str
    refresh_token: str
    refresh_url: str


class UserTokens(TokenPair):
    user_url: str


class NodeTokens(TokenPair):
    node_url: str


class TwoFactorSetup(Message):
    """The answer to a user's first login when two-factor authentication is required."""

    qr_uri: str
    otp_secret: str


class PasswordChanged(UserTokens, Message):
    """The password changed; the user's earlier tokens are revoked, these replace them."""


class ContainerToken(BaseModel):
    container_token: str


class TokenValidation(Message):
    user_id: int
    username: str
    email: str | None
    organization_id: int


# -- server ----------------------------------------------------------------------------------------
class Version(BaseModel):
    version: str


class Health(BaseModel):
    database: bool


class BlobStoreStatus(BaseModel):
    blob_store_enabled: bool


class BlobUploaded(BaseModel):
    uuid: str


class VpnAddresses(BaseModel):
    addresses: list[Any]


class AlgorithmStore(BaseModel):
    """An algorithm store coupled to one collaboration (``collaboration``) or to all (null)."""

    id: int
    name: str
    url: str
    collaboration: Stub | None
    collaborations: str | None


class Empty(BaseModel):
    """An item of a list this server keeps empty (VPN ports)."""


# -- pages and route declarations ------------------------------------------------------------
Item = TypeVar("Item")


class Page(BaseModel, Generic[Item]):
    """One page of a list; ``total-count`` and ``Link`` headers come with it."""

    data: list[Item]
    links: PageLinks


def answers(
    model: Any,
    status: int = 200,
    description: str = "",
    others: dict[int | str, dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Decorator arguments that document ``model`` as the route's answer (and ``others``).

    The runtime response model stays ``Any``: nothing is validated or converted, the route's
    own dict is written out as JSON as before.
    """
    doc: dict[str, Any] = {"model": model}
    if description:
        doc["description"] = description
    return {"response_model": Any, "responses": {**(others or {}), status: doc}}


def page_of(model: Any) -> dict[str, Any]:
    """Decorator arguments for a list route: a page of ``model``."""
    return answers(Page[model], description="One page of results")


def refuses(status: int, description: str) -> dict[str, Any]:
    """Decorator arguments for a route that always refuses (a feature this server lacks):
    its one documented answer is the error ``status``."""
    return {**answers(ErrorBody, status, description), "status_code": status}
