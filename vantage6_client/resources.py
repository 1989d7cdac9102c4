"""Sub-clients, one per server resource, named like the vantage6 client's.

Conventions:

- ``list(...)`` returns a :class:`~vantage6_client.transport.Page` (``result["data"]``). Without
  ``page`` it holds every matching item, fetched page by page; with ``page`` only that page
  (``per_page`` items, default 20) and its ``links``.
- ``list`` and ``get`` also take vantage6's post-filters: ``field``/``fields`` keep only those
  keys, ``filter_``/``filters`` keep items whose key equals a value.
- Related objects are given by id (``organization=3``), as in vantage6.
- Errors raise :mod:`vantage6_client.exceptions`; nothing is swallowed into a log line.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, Protocol, TypeVar

from vantage6_client.blobs import BlobSupport, pieces
from vantage6_client.encryption import EncryptionSupport
from vantage6_client.exceptions import V6ClientError
from vantage6_client.session import ClientSession
from vantage6_client.transport import Page
from vantage6_common.blob_crypto import write_chunks
from vantage6_common.related import related_id, related_ids


class ClientParent(ClientSession, Protocol):
    """What the sub-clients use of the :class:`~vantage6_client.client.Client`."""

    crypto: EncryptionSupport
    blobs: BlobSupport

    def setup_encryption(self, private_key_file: str | Path | None) -> None: ...

    def wait_for_task(self, task_id: int, timeout: float | None = None) -> str: ...


F = TypeVar("F", bound=Callable[..., Any])
DEFAULT_PER_PAGE = 20


# --------------------------------------------------------------------------------------------
# post-filtering (vantage6's field/fields/filter_/filters keyword arguments)
# --------------------------------------------------------------------------------------------
def _keep_keys(item: Any, keys: list[str] | None) -> Any:
    if not keys or not isinstance(item, dict):
        return item
    return {k: v for k, v in item.items() if k in keys}


def _matches(item: Any, pairs: list[tuple[str, Any]]) -> bool:
    if not isinstance(item, dict):
        return False
    # a key that the item does not have is ignored (vantage6 does the same)
    return all(item[key] == value for key, value in pairs if key in item)


def _shape_one(func: F) -> F:
    @functools.wraps(func)
    def wrapper(*args: Any, field: str | None = None, fields: list[str] | None = None, **kw: Any):
        result = func(*args, **kw)
        keys = [field] if field else fields
        return _keep_keys(result, keys)

    return wrapper  # type: ignore[return-value]


def _shape_many(func: F) -> F:
    @functools.wraps(func)
    def wrapper(
        *args: Any,
        field: str | None = None,
        fields: list[str] | None = None,
        filter_: tuple[str, Any] | None = None,
        filters: list[tuple[str, Any]] | None = None,
        **kw: Any,
    ):
        result = func(*args, **kw)
        pairs = [filter_] if filter_ else list(filters or [])
        keys = [field] if field else fields
        if not pairs and not keys:
            return result
        items = [_keep_keys(i, keys) for i in result["data"] if _matches(i, pairs)]
        shaped = Page(items, result.get("links"), getattr(result, "total", None))
        if isinstance(result, Page):
            shaped.page, shaped.per_page = result.page, result.per_page
        return shaped

    return wrapper  # type: ignore[return-value]


def _decode_field(parent: ClientParent, item: Any, field: str, task: Any = None) -> None:
    """Decode ``item[field]`` (an input or result) in place: fetched from the blob store when
    the run says ``blob_storage_used``, else decrypted and JSON-decoded from the text."""
    if not isinstance(item, dict) or field not in item:
        return
    if item.get("blob_storage_used") and item[field]:
        item[field] = parent.blobs.load(item[field])
    else:
        item[field] = parent.crypto.decode(item[field], task or item.get("task"))


def _clean(data: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in data.items() if v is not None}


def _ids(values: Iterable[Any] | None) -> list[int] | None:
    return None if values is None else related_ids(values)


class SubClient:
    """Base of the sub-clients; ``parent`` is the :class:`~vantage6_client.client.Client`."""

    endpoint = ""

    def __init__(self, parent: ClientParent) -> None:
        self.parent = parent

    # helpers ---------------------------------------------------------------------------
    def _request(self, method: str, endpoint: str, **kw: Any) -> Any:
        return self.parent.transport.request(method, endpoint, **kw)

    def _list(
        self,
        params: dict[str, Any],
        page: int | None,
        per_page: int | None,
        endpoint: str | None = None,
    ) -> Page:
        endpoint = endpoint or self.endpoint
        transport = self.parent.transport
        if page is None:
            return transport.get_all(endpoint, params, per_page)
        return transport.get_page(endpoint, params, page, per_page or DEFAULT_PER_PAGE)

    def _iter(self, params: dict[str, Any], per_page: int | None = None) -> Iterator[Any]:
        return self.parent.transport.iter_items(self.endpoint, params, per_page)

    def _get(self, id_: int, params: dict[str, Any] | None = None) -> dict[str, Any]:
        return self._request("GET", f"{self.endpoint}/{int(id_)}", params=params)

    def _delete(self, id_: int, delete_dependents: bool = False) -> Any:
        params = {"delete_dependents": "true"} if delete_dependents else None
        return self._request("DELETE", f"{self.endpoint}/{int(id_)}", params=params)

    def _my_org(self) -> int | None:
        who = self.parent.whoami
        return who.organization_id if who else None

    def _collab(self, collaboration: int | None) -> int:
        collaboration = collaboration or self.parent.collaboration_id
        if collaboration is None:
            raise V6ClientError(
                "no collaboration given (pass collaboration=... or call setup_collaboration)"
            )
        return int(collaboration)


# --------------------------------------------------------------------------------------------
class Util(SubClient):
    """Server information, passwords, two-factor authentication and keys."""

    def get_server_version(self, attempts_on_timeout: int | None = None) -> dict[str, Any]:
        return self._request("GET", "version", authenticated=False)

    def get_server_health(self) -> dict[str, Any]:
        return self._request("GET", "health", authenticated=False)

    def change_my_password(self, current_password: str, new_password: str) -> dict[str, Any]:
        return self._request(
            "PATCH",
            "password/change",
            json={"current_password": current_password, "new_password": new_password},
        )

    def reset_my_password(
        self, email: str | None = None, username: str | None = None
    ) -> dict[str, Any]:
        """Ask for a password-reset e-mail."""
        if not (email or username):
            raise ValueError("give an email or a username")
        return self._request(
            "POST",
            "recover/lost",
            json=_clean({"email": email, "username": username}),
            authenticated=False,
        )

    def set_my_password(self, token: str, password: str) -> dict[str, Any]:
        """Set a new password with the token from the reset e-mail."""
        return self._request(
            "POST",
            "recover/reset",
            json={"reset_token": token, "password": password},
            authenticated=False,
        )

    def reset_two_factor_auth(
        self, password: str, email: str | None = None, username: str | None = None
    ) -> dict[str, Any]:
        """Ask for a 2FA-reset e-mail."""
        if not (email or username):
            raise ValueError("give an email or a username")
        return self._request(
            "POST",
            "recover/2fa/lost",
            json=_clean({"email": email, "username": username, "password": password}),
            authenticated=False,
        )

    def set_two_factor_auth(self, token: str) -> dict[str, Any]:
        """Reset 2FA with the token from the e-mail; the answer holds the new ``qr_uri``."""
        return self._request(
            "POST", "recover/2fa/reset", json={"reset_token": token}, authenticated=False
        )

    def generate_private_key(self, file_: str | Path | None = None) -> Path:
        """Create a key pair for your organization, save the private key, upload the public one
        and use it for encryption. Returns the path of the private key file."""
        from vantage6_client.encryption import generate_private_key

        path = Path(file_ or "private_key.pem").expanduser()
        if path.exists():
            raise FileExistsError(f"{path} exists; not overwriting a private key")
        generate_private_key(path)
        self.parent.setup_encryption(path)
        return path


# --------------------------------------------------------------------------------------------
class Organization(SubClient):
    endpoint = "organization"

    @_shape_many
    def list(
        self,
        name: str | None = None,
        country: str | None = None,
        collaboration: int | None = None,
        study: int | None = None,
        page: int | None = None,
        per_page: int | None = None,
    ) -> Page:
        params = {
            "name": name,
            "country": country,
            "collaboration_id": collaboration,
            "study_id": study,
        }
        return self._list(params, page, per_page)

    @_shape_one
    def get(self, id_: int | None = None) -> dict[str, Any]:
        """An organization; your own when no id is given."""
        return self._get(id_ if id_ is not None else self._my_org())

    @_shape_one
    def create(
        self,
        name: str,
        address1: str = "",
        address2: str = "",
        zipcode: str = "",
        country: str = "",
        domain: str = "",
        public_key: str | None = None,
    ) -> dict[str, Any]:
        body = {
            "name": name,
            "address1": address1,
            "address2": address2,
            "zipcode": zipcode,
            "country": country,
            "domain": domain,
            "public_key": public_key,
        }
        return self._request("POST", self.endpoint, json=_clean(body))

    @_shape_one
    def update(
        self,
        id_: int | None = None,
        name: str | None = None,
        address1: str | None = None,
        address2: str | None = None,
        zipcode: str | None = None,
        country: str | None = None,
        domain: str | None = None,
        public_key: str | None = None,
    ) -> dict[str, Any]:
        id_ = id_ if id_ is not None else self._my_org()
        body = {
            "name": name,
            "address1": address1,
            "address2": address2,
            "zipcode": zipcode,
            "country": country,
            "domain": domain,
            "public_key": public_key,
        }
        return self._request("PATCH", f"{self.endpoint}/{int(id_)}", json=_clean(body))

    def delete(self, id_: int, delete_dependents: bool = False) -> Any:
        return self._delete(id_, delete_dependents)


# --------------------------------------------------------------------------------------------
class Collaboration(SubClient):
    endpoint = "collaboration"

    @_shape_many
    def list(
        self,
        scope: str = "organization",
        name: str | None = None,
        encrypted: bool | None = None,
        organization: int | None = None,
        algorithm_store: int | None = None,
        page: int | None = None,
        per_page: int | None = None,
    ) -> Page:
        """Collaborations of your organization (``scope="organization"``) or all that you may
        see (``scope="global"``, optionally those of ``organization``)."""
        if scope == "organization":
            organization = organization or self._my_org()
        elif scope != "global":
            raise ValueError("scope must be 'organization' or 'global'")
        params = {
            "name": name,
            "encrypted": encrypted,
            "organization_id": organization,
            "algorithm_store_id": algorithm_store,
        }
        return self._list(params, page, per_page)

    @_shape_one
    def get(self, id_: int | None = None) -> dict[str, Any]:
        return self._get(self._collab(id_))

    @_shape_one
    def create(
        self,
        name: str,
        organizations: list[int],
        encrypted: bool = False,
        encryption_scheme: str | None = None,
    ) -> dict[str, Any]:
        """A collaboration; ``encryption_scheme`` is "vantage6" (the server's default: values
        readable by vantage6 4.x software) or "authenticated" (required; no 4.x software)."""
        body = {
            "name": name,
            "organization_ids": _ids(organizations),
            "encrypted": encrypted,
            "encryption_scheme": encryption_scheme,
        }
        return self._request("POST", self.endpoint, json=_clean(body))

    @_shape_one
    def update(
        self,
        id_: int | None = None,
        name: str | None = None,
        encrypted: bool | None = None,
        organizations: list[int] | None = None,
        encryption_scheme: str | None = None,
    ) -> dict[str, Any]:
        id_ = self._collab(id_)
        body = {
            "name": name,
            "encrypted": encrypted,
            "organization_ids": _ids(organizations),
            "encryption_scheme": encryption_scheme,
        }
        self.parent.crypto.forget(id_)
        return self._request("PATCH", f"{self.endpoint}/{id_}", json=_clean(body))

    def delete(self, id_: int | None = None, delete_dependents: bool = False) -> Any:
        id_ = self._collab(id_)
        self.parent.crypto.forget(id_)
        return self._delete(id_, delete_dependents)

    def add_organization(self, organization: int, collaboration: int | None = None) -> Any:
        collaboration = self._collab(collaboration)
        return self._request(
            "POST", f"{self.endpoint}/{collaboration}/organization", json={"id": organization}
        )

    def remove_organization(self, organization: int, collaboration: int | None = None) -> Any:
        collaboration = self._collab(collaboration)
        return self._request(
            "DELETE", f"{self.endpoint}/{collaboration}/organization", json={"id": organization}
        )

    def add_node(self, node: int, collaboration: int | None = None) -> Any:
        collaboration = self._collab(collaboration)
        return self._request("POST", f"{self.endpoint}/{collaboration}/node", json={"id": node})

    def remove_node(self, node: int, collaboration: int | None = None) -> Any:
        collaboration = self._collab(collaboration)
        return self._request("DELETE", f"{self.endpoint}/{collaboration}/node", json={"id": node})


# --------------------------------------------------------------------------------------------
class Study(SubClient):
    endpoint = "study"

    @_shape_many
    def list(
        self,
        name: str | None = None,
        organization: int | None = None,
        collaboration: int | None = None,
        include_organizations: bool = False,
        page: int | None = None,
        per_page: int | None = None,
    ) -> Page:
        params = {
            "name": name,
            "organization_id": organization,
            "collaboration_id": collaboration,
            "include": "organizations" if include_organizations else None,
        }
        return self._list(params, page, per_page)

    @_shape_one
    def get(self, id_: int) -> dict[str, Any]:
        return self._get(id_)

    @_shape_one
    def create(
        self, name: str, organizations: list[int], collaboration: int | None = None
    ) -> dict[str, Any]:
        body = {
            "name": name,
            "organization_ids": _ids(organizations),
            "collaboration_id": self._collab(collaboration),
        }
        return self._request("POST", self.endpoint, json=body)

    @_shape_one
    def update(
        self, id_: int, name: str | None = None, organizations: list[int] | None = None
    ) -> dict[str, Any]:
        body = {"name": name, "organization_ids": _ids(organizations)}
        return self._request("PATCH", f"{self.endpoint}/{int(id_)}", json=_clean(body))

    def delete(self, id_: int, delete_dependents: bool = False) -> Any:
        return self._delete(id_, delete_dependents)

    def add_organization(self, organization: int, study: int) -> Any:
        return self._request(
            "POST", f"{self.endpoint}/{int(study)}/organization", json={"id": organization}
        )

    def remove_organization(self, organization: int, study: int) -> Any:
        return self._request(
            "DELETE", f"{self.endpoint}/{int(study)}/organization", json={"id": organization}
        )


# --------------------------------------------------------------------------------------------
class Node(SubClient):
    endpoint = "node"

    @_shape_many
    def list(
        self,
        name: str | None = None,
        organization: int | None = None,
        collaboration: int | None = None,
        study: int | None = None,
        is_online: bool | None = None,
        ip: str | None = None,
        last_seen_from: str | None = None,
        last_seen_till: str | None = None,
        page: int | None = None,
        per_page: int | None = None,
    ) -> Page:
        params = {
            "name": name,
            "organization_id": organization,
            "collaboration_id": collaboration,
            "study_id": study,
            "status": None if is_online is None else ("online" if is_online else "offline"),
            "ip": ip,
            "last_seen_from": last_seen_from,
            "last_seen_till": last_seen_till,
        }
        return self._list(params, page, per_page)

    @_shape_one
    def get(self, id_: int) -> dict[str, Any]:
        return self._get(id_)

    @_shape_one
    def create(
        self,
        collaboration: int | None = None,
        organization: int | None = None,
        name: str | None = None,
    ) -> dict[str, Any]:
        """Register a node; the answer holds its ``api_key`` (shown only this once)."""
        body = {
            "collaboration_id": self._collab(collaboration),
            "organization_id": organization if organization is not None else self._my_org(),
            "name": name,
        }
        return self._request("POST", self.endpoint, json=_clean(body))

    @_shape_one
    def update(
        self, id_: int, name: str | None = None, clear_ip: bool | None = None
    ) -> dict[str, Any]:
        body = {"name": name, "clear_ip": clear_ip}
        return self._request("PATCH", f"{self.endpoint}/{int(id_)}", json=_clean(body))

    def delete(self, id_: int) -> Any:
        return self._delete(id_)

    def kill_tasks(self, id_: int) -> Any:
        """Kill every task running on this (online) node."""
        return self._request("POST", "kill/node/tasks", json={"id": int(id_)})

    def reset_api_key(self, id_: int) -> dict[str, Any]:
        """Give the node a new API key; the answer holds it as ``api_key``."""
        return self._request("POST", "recover/node", json={"id": int(id_)})


# --------------------------------------------------------------------------------------------
class User(SubClient):
    endpoint = "user"

    @_shape_many
    def list(
        self,
        username: str | None = None,
        organization: int | None = None,
        firstname: str | None = None,
        lastname: str | None = None,
        email: str | None = None,
        role: int | None = None,
        rule: int | None = None,
        last_seen_from: str | None = None,
        last_seen_till: str | None = None,
        collaboration: int | None = None,
        page: int | None = None,
        per_page: int | None = None,
    ) -> Page:
        params = {
            "username": username,
            "organization_id": organization,
            "firstname": firstname,
            "lastname": lastname,
            "email": email,
            "role_id": role,
            "rule_id": rule,
            "last_seen_from": last_seen_from,
            "last_seen_till": last_seen_till,
            "collaboration_id": collaboration,
        }
        return self._list(params, page, per_page)

    @_shape_one
    def get(self, id_: int | None = None, include_permissions: bool = False) -> dict[str, Any]:
        """A user; yourself when no id is given."""
        if id_ is None:
            id_ = self.parent.require_login().id
        params = {"include_permissions": "true"} if include_permissions else None
        return self._get(id_, params)

    @_shape_one
    def create(
        self,
        username: str,
        firstname: str | None = None,
        lastname: str | None = None,
        password: str | None = None,
        email: str | None = None,
        organization: int | None = None,
        roles: list[int] | None = None,
        rules: list[int] | None = None,
    ) -> dict[str, Any]:
        body = {
            "username": username,
            "firstname": firstname,
            "lastname": lastname,
            "password": password,
            "email": email,
            "organization_id": organization if organization is not None else self._my_org(),
            "roles": _ids(roles) or [],
            "rules": _ids(rules) or [],
        }
        return self._request("POST", self.endpoint, json=_clean(body))

    @_shape_one
    def update(
        self,
        id_: int | None = None,
        firstname: str | None = None,
        lastname: str | None = None,
        organization: int | None = None,
        rules: list[int] | None = None,
        roles: list[int] | None = None,
        email: str | None = None,
    ) -> dict[str, Any]:
        if id_ is None:
            id_ = self.parent.require_login().id
        body = {
            "firstname": firstname,
            "lastname": lastname,
            "organization_id": organization,
            "rules": _ids(rules),
            "roles": _ids(roles),
            "email": email,
        }
        return self._request("PATCH", f"{self.endpoint}/{int(id_)}", json=_clean(body))

    def delete(self, id_: int, delete_dependents: bool = False) -> Any:
        return self._delete(id_, delete_dependents)


# --------------------------------------------------------------------------------------------
class Role(SubClient):
    endpoint = "role"

    @_shape_many
    def list(
        self,
        name: str | None = None,
        description: str | None = None,
        organization: int | None = None,
        rule: int | None = None,
        user: int | None = None,
        include_root: bool | None = None,
        page: int | None = None,
        per_page: int | None = None,
    ) -> Page:
        params = {
            "name": name,
            "description": description,
            "organization_id": organization,
            "rule_id": rule,
            "user_id": user,
            "include_root": include_root,
        }
        return self._list(params, page, per_page)

    @_shape_one
    def get(self, id_: int) -> dict[str, Any]:
        return self._get(id_)

    @_shape_one
    def create(
        self,
        name: str,
        description: str = "",
        rules: list[int] | None = None,
        organization: int | None = None,
    ) -> dict[str, Any]:
        body = {
            "name": name,
            "description": description,
            "rules": _ids(rules) or [],
            "organization_id": organization if organization is not None else self._my_org(),
        }
        return self._request("POST", self.endpoint, json=_clean(body))

    @_shape_one
    def update(
        self,
        role: int,
        name: str | None = None,
        description: str | None = None,
        rules: list[int] | None = None,
    ) -> dict[str, Any]:
        body = {"name": name, "description": description, "rules": _ids(rules)}
        return self._request("PATCH", f"{self.endpoint}/{int(role)}", json=_clean(body))

    def delete(self, role: int, delete_dependents: bool = False) -> Any:
        return self._delete(role, delete_dependents)

    def add_rule(self, role: int, rule: int) -> Any:
        return self._request("POST", f"{self.endpoint}/{int(role)}/rule/{int(rule)}")

    def remove_rule(self, role: int, rule: int) -> Any:
        return self._request("DELETE", f"{self.endpoint}/{int(role)}/rule/{int(rule)}")


# --------------------------------------------------------------------------------------------
class Rule(SubClient):
    endpoint = "rule"

    @_shape_many
    def list(
        self,
        name: str | None = None,
        operation: str | None = None,
        scope: str | None = None,
        role: int | None = None,
        user: int | None = None,
        page: int | None = None,
        per_page: int | None = None,
    ) -> Page:
        params = {
            "name": name,
            "operation": operation,
            "scope": scope,
            "role_id": role,
            "user_id": user,
        }
        return self._list(params, page, per_page)

    @_shape_one
    def get(self, id_: int) -> dict[str, Any]:
        return self._get(id_)

    def find(self, name: str, operation: str, scope: str) -> dict[str, Any]:
        """The one rule for (resource ``name``, ``operation``, ``scope``), e.g.
        ``find("task", "create", "collaboration")``; short forms (``"c"``, ``"col"``) work."""
        operation = _OPERATIONS.get(operation, operation)
        scope = _SCOPES.get(scope, scope)
        for rule in self.list(name=name).data:
            if (
                str(rule.get("operation", "")).lower() == operation.lower()
                and str(rule.get("scope", "")).lower() == scope.lower()
            ):
                return rule
        raise V6ClientError(f"no rule ({name}, {operation}, {scope}) on this server")


_OPERATIONS = {
    "v": "view",
    "e": "edit",
    "c": "create",
    "d": "delete",
    "s": "send",
    "r": "receive",
}
_SCOPES = {"own": "own", "org": "organization", "col": "collaboration", "glo": "global"}


# --------------------------------------------------------------------------------------------
class Task(SubClient):
    endpoint = "task"

    @_shape_one
    def get(self, id_: int, include_results: bool = False) -> dict[str, Any]:
        params = {"include": "results"} if include_results else None
        task = self._get(id_, params)
        if include_results and isinstance(task.get("results"), list):
            for item in task["results"]:
                _decode_field(self.parent, item, "result", task)
        return task

    @_shape_many
    def list(
        self,
        initiating_org: int | None = None,
        initiating_user: int | None = None,
        collaboration: int | None = None,
        study: int | None = None,
        store: int | None = None,
        image: str | None = None,
        parent: int | None = None,
        job: int | None = None,
        name: str | None = None,
        include_results: bool = False,
        description: str | None = None,
        database: str | None = None,
        run: int | None = None,
        status: str | None = None,
        user_created: bool | None = None,
        page: int | None = None,
        per_page: int | None = None,
    ) -> Page:
        params = {
            "init_org_id": initiating_org,
            "init_user_id": initiating_user,
            "collaboration_id": collaboration or self.parent.collaboration_id,
            "study_id": study,
            "store_id": store,
            "image": image,
            "parent_id": parent,
            "job_id": job,
            "name": name,
            "include": "results" if include_results else None,
            "description": description,
            "database": database,
            "run_id": run,
            "status": status,
            "is_user_created": user_created,
        }
        return self._list(params, page, per_page)

    @_shape_one
    def create(
        self,
        organizations: list[int],
        name: str,
        image: str,
        description: str = "",
        input_: dict[str, Any] | None = None,
        collaboration: int | None = None,
        study: int | None = None,
        store: int | None = None,
        server_url: str | None = None,
        databases: list[dict[str, Any]] | str | None = None,
        input_file: str | Path | None = None,
    ) -> dict[str, Any]:
        """Create a task for ``organizations`` (ids) in a collaboration or a study.

        ``input_`` is ``{"method": ..., "args": [...], "kwargs": {...}}``; in an encrypted
        collaboration it is encrypted for each organization with its public key. When the
        server has a blob store, each organization's input is uploaded as a blob first and
        the task refers to it.
        ``input_file``, instead of ``input_``: a file holding the input already serialized
        (the JSON text of such a dict), streamed to the server's blob store once per
        organization without being read into memory; the server must have a blob store.
        ``databases``: ``[{"label": "default"}, ...]`` (a single label as text also works).
        """
        if not organizations:
            raise ValueError("a task needs at least one organization")
        if input_file is not None and input_ is not None:
            raise ValueError("give the input as input_ or as input_file, not both")
        collaboration = collaboration or (None if study else self.parent.collaboration_id)
        if study is not None and collaboration is None:
            study_obj = self._request("GET", f"study/{int(study)}")
            collaboration = related_id(study_obj.get("collaboration"))
        if collaboration is None:
            raise ValueError("give a collaboration or a study")
        org_ids = _ids(organizations) or []
        if input_file is not None:
            inputs = self.parent.blobs.upload_input_file(input_file, org_ids, int(collaboration))
        elif self.parent.blobs.enabled():
            inputs = self.parent.blobs.upload_inputs(input_ or {}, org_ids, int(collaboration))
        else:
            inputs = self.parent.crypto.encrypt_input(input_ or {}, org_ids, int(collaboration))
        body: dict[str, Any] = {
            "name": name,
            "image": image,
            "description": description,
            "organizations": inputs,
            "databases": parse_databases(databases),
        }
        if study is not None:
            body["study_id"] = int(study)
        else:
            body["collaboration_id"] = int(collaboration)
        if store is not None:
            body["store_id"] = store
        if server_url is not None:
            body["server_url"] = server_url
        return self._request("POST", self.endpoint, json=body)

    def status(self, id_: int) -> str:
        return self._request("GET", f"{self.endpoint}/{int(id_)}/status").get("status")

    def wait(self, id_: int, timeout: float | None = None) -> str:
        """Wait for the task to finish; returns its final status."""
        return self.parent.wait_for_task(id_, timeout=timeout)

    def delete(self, id_: int) -> Any:
        """Delete the task with its runs and subtasks (unfinished runs are killed)."""
        return self._delete(id_)

    def kill(self, id_: int) -> Any:
        """Stop the task's runs on the nodes; the task itself stays."""
        return self._request("POST", "kill/task", json={"id": int(id_)})


def parse_databases(databases: list[dict[str, Any]] | str | None) -> list[dict[str, Any]]:
    """Check the ``databases`` of a task: a list of ``{"label": ...}`` dicts (or one label)."""
    if databases is None:
        return []
    if isinstance(databases, str):
        databases = [{"label": databases}]
    out = []
    for db in databases:
        if isinstance(db, str):
            db = {"label": db}
        if not isinstance(db, dict):
            raise ValueError("each database must be a dict with a 'label' key")
        label = db.get("label")
        if not isinstance(label, str) or not label:
            raise ValueError("each database needs a 'label' (text)")
        if not label.isidentifier():
            raise ValueError(
                f"database label {label!r} may contain only letters, digits and underscores "
                "and may not start with a digit"
            )
        out.append(dict(db))
    return out


# --------------------------------------------------------------------------------------------
class Run(SubClient):
    endpoint = "run"

    def _decode_input(self, run: dict[str, Any]) -> dict[str, Any]:
        if isinstance(run, dict) and run.get("input"):
            try:
                _decode_field(self.parent, run, "input")
            except V6ClientError:
                pass  # input for another organization: leave it as the server sent it
        return run

    @_shape_one
    def get(
        self, id_: int, include_task: bool = False, decrypt_input: bool = True
    ) -> dict[str, Any]:
        run = self._get(id_, {"include": "task"} if include_task else None)
        return self._decode_input(run) if decrypt_input else run

    @_shape_many
    def list(
        self,
        task: int | None = None,
        organization: int | None = None,
        state: str | None = None,
        node: int | None = None,
        include_task: bool = False,
        started: tuple[str, str] | None = None,
        assigned: tuple[str, str] | None = None,
        finished: tuple[str, str] | None = None,
        port: int | None = None,
        status: str | None = None,
        page: int | None = None,
        per_page: int | None = None,
        decrypt_input: bool = True,
    ) -> Page:
        params: dict[str, Any] = {
            "task_id": task,
            "organization_id": organization,
            "state": state,
            "node_id": node,
            "include": "task" if include_task else None,
            "port": port,
            "status": status,
        }
        for key, span in (("started", started), ("assigned", assigned), ("finished", finished)):
            if span:
                params[f"{key}_from"], params[f"{key}_till"] = span
        runs = self._list(params, page, per_page)
        if decrypt_input:
            for run in runs.data:
                self._decode_input(run)
        return runs

    @_shape_many
    def from_task(
        self, task_id: int, include_task: bool = False, decrypt_input: bool = True
    ) -> Page:
        return self.list(task=task_id, include_task=include_task, decrypt_input=decrypt_input)


# --------------------------------------------------------------------------------------------
class Result(SubClient):
    """Results of runs, decrypted and JSON-decoded."""

    endpoint = "result"

    def get(self, id_: int) -> Any:
        """The decoded result of one run (by run id)."""
        item = self._get(id_)
        _decode_field(self.parent, item, "result")
        return item.get("result")

    def download(self, id_: int, path: str | Path) -> int:
        """Write the result of run ``id_`` (decrypted; the JSON the algorithm returned) to a
        new file at ``path``; returns its size in bytes.

        A result kept as a blob is streamed to the file a chunk at a time, so it never has to
        fit in memory. A failure leaves no file behind.
        """
        item = self._get(id_)
        if item.get("blob_storage_used") and item.get("result"):
            return self.parent.blobs.save(item["result"], path)
        value = item.get("result")
        if value in (None, ""):
            raise V6ClientError(f"run {int(id_)} has no result (yet)")
        raw = self.parent.crypto.decode_bytes(value, item.get("task"))
        return write_chunks(pieces(raw), path)

    @_shape_many
    def list(
        self,
        task: int | None = None,
        organization: int | None = None,
        page: int | None = None,
        per_page: int | None = None,
    ) -> Page:
        params = {"task_id": task, "organization_id": organization}
        results = self._list(params, page, per_page)
        for item in results.data:
            _decode_field(self.parent, item, "result")
        return results

    @_shape_many
    def from_task(self, task_id: int) -> Page:
        """Every result of task ``task_id``: items with ``id``, ``result`` (decoded), ..."""
        return self.list(task=task_id)
