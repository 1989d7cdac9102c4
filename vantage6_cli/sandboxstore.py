"""The sandbox's algorithm store: started next to its server, coupled to its collaboration,
with the demo algorithm submitted and approved through the store's API as real users do.

The sandbox's store needs one reviewer from one organization (a real store's default is two
of each). The sandbox researcher (a store Developer) submits the demo algorithm; root (the
store's administrator, and not the developer) assigns themself as its reviewer and approves
it. The nodes trust only this store (``allowed_algorithm_stores``).
"""

from __future__ import annotations

from typing import Any

from vantage6_cli import configs
from vantage6_cli.errors import STATE, CliError
from vantage6_cli.instances import Instance, in_folder
from vantage6_cli.storeapi import StoreSession, store_api_url

DEMO_ALGORITHM_NAME = "v6demo"

_COLUMNS = {"name": "columns", "type": "column_list", "has_default_value": True}
_ORGS = {"name": "organizations", "type": "organization_list", "has_default_value": True}
_PREDICTORS = {"name": "predictors", "type": "column_list"}
_OUTCOME = {"name": "outcome", "type": "column"}
_INTERCEPT = {
    "name": "intercept",
    "type": "boolean",
    "has_default_value": True,
    "default_value": True,
}
_DATA = [{"name": "default", "description": "the node's demo data"}]


def demo_metadata(image: str) -> dict[str, Any]:
    """The store's metadata of the demo algorithm (algorithms/demo)."""

    def function(name: str, kind: str, arguments: list[dict[str, Any]]) -> dict[str, Any]:
        return {"name": name, "type": kind, "databases": _DATA, "arguments": arguments}

    return {
        "name": DEMO_ALGORITHM_NAME,
        "description": "pooled summary statistics and linear/logistic regression, exact",
        "image": image,
        "partitioning": "horizontal",
        "vantage6_version": "4.14",
        "code_url": "https://example.org/vantage6-next/algorithms/demo",
        "functions": [
            function("summary", "central", [_COLUMNS, _ORGS]),
            function("summary_partial", "federated", [_COLUMNS]),
            function("linear_regression", "central", [_PREDICTORS, _OUTCOME, _ORGS, _INTERCEPT]),
            function("linear_regression_partial", "federated", [_PREDICTORS, _OUTCOME, _INTERCEPT]),
            function(
                "logistic_regression",
                "central",
                [
                    _PREDICTORS,
                    _OUTCOME,
                    _ORGS,
                    _INTERCEPT,
                    {
                        "name": "max_iter",
                        "type": "integer",
                        "has_default_value": True,
                        "default_value": 25,
                    },
                    {
                        "name": "tol",
                        "type": "float",
                        "has_default_value": True,
                        "default_value": 1e-10,
                    },
                ],
            ),  # fmt: skip
            function(
                "logistic_regression_partial",
                "federated",
                [
                    _PREDICTORS,
                    _OUTCOME,
                    {"name": "coefficients", "type": "float_list"},
                    _INTERCEPT,
                ],
            ),
        ],
    }


def store_instance(config_dir: Any, data_dir: Any) -> Instance:
    return in_folder("store", "store", config_dir, data_dir, "sandbox")


def write_store_config(store: Instance, port: int, server_api_url: str) -> str:
    """The store's configuration; returns its address (as coupled, without ``/api``)."""
    store.data_dir.mkdir(parents=True, exist_ok=True)
    configs.write_yaml(
        store.config_file,
        {
            "host": "127.0.0.1",
            "port": port,
            "api_path": "/api",
            "database_uri": f"sqlite:///{store.data_dir / 'store.sqlite'}",
            "root_user": {"v6_server_uri": server_api_url, "username": "root"},
            "policies": {
                # nodes read what is approved without credentials (they hold no user token)
                "algorithm_view": "public",
                "allow_localhost": True,
                "min_reviewers": 1,
                "min_reviewing_organizations": 1,
            },
        },
    )
    return f"http://127.0.0.1:{port}"


def _role_id(store: StoreSession, name: str) -> int:
    for role in store.all("role", {"name": name}):
        if role.get("name") == name:
            return int(role["id"])
    raise CliError(f"the sandbox's store has no role '{name}'", STATE)


def _user_id(store: StoreSession, username: str) -> int:
    for user in store.all("user", {"username": username}):
        if user.get("username") == username:
            return int(user["id"])
    raise CliError(f"'{username}' is not registered in the sandbox's store", STATE)


def publish_demo(
    store_url: str,
    root: Any,
    researcher: Any,
    researcher_name: str,
    collaboration_id: int,
    image: str,
) -> dict[str, Any]:
    """Register the researcher, submit, review and approve the demo algorithm, and couple the
    store to the collaboration; ``root`` and ``researcher`` are logged-in clients."""
    as_root = StoreSession(store_api_url(store_url), root)
    as_researcher = StoreSession(store_api_url(store_url), researcher)
    as_root.request(
        "POST",
        "user",
        json={"username": researcher_name, "roles": [_role_id(as_root, "Developer")]},
    )
    submitted = as_researcher.request("POST", "algorithm", json=demo_metadata(image))
    as_root.request(
        "POST",
        "review",
        json={"algorithm_id": submitted["id"], "reviewer_id": _user_id(as_root, "root")},
    )
    review = as_root.all("review", {"algorithm_id": submitted["id"]})[0]
    as_root.request(
        "POST", f"review/{review['id']}/approve", json={"comment": "the sandbox's demo"}
    )
    status = as_root.request("GET", f"algorithm/{submitted['id']}")["status"]
    if status != "approved":
        raise CliError(f"the demo algorithm is '{status}' in the sandbox's store", STATE)
    coupled = root.request(
        "algorithmstore",
        method="post",
        json={
            "algorithm_store_url": store_url,
            "name": "sandbox store",
            "collaboration_id": collaboration_id,
            "server_url": root.base_path,
            "force": True,
        },
    )
    return {
        "url": store_url,
        "coupling_id": coupled["id"],
        "algorithm_id": submitted["id"],
    }
