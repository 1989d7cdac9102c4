"""Property-based API tests: every operation in ``/api/openapi.json`` against a live server.

Schemathesis generates valid and invalid requests from the OpenAPI document, sends them as root
and checks that the server never answers 5xx and that status codes, content types and bodies
match what the document declares (every answer's fields against the models of
``vantage6_server.api.schemas``). The run is bounded (few examples per operation, fixed seed)
so it fits in CI; ``V6_FUZZ_EXAMPLES`` and ``V6_FUZZ_SEED`` widen or vary it locally.
"""

from __future__ import annotations

import os

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.config import SchemathesisConfig

from tests.api import Api
from tests.livestack import LiveServer, start_server
from tests.server.seeding import SEED_PASSWORD, Seeded, seed

MAX_EXAMPLES = int(os.environ.get("V6_FUZZ_EXAMPLES", "8"))
SEED = int(os.environ.get("V6_FUZZ_SEED", "6406"))
CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
)


@pytest.fixture(scope="module")
def fuzz_root(live_server: LiveServer) -> Api:
    return Api.as_user(live_server.api_url, live_server.root_username, live_server.root_password)


@pytest.fixture(scope="module")
def seeded(fuzz_root: Api) -> Seeded:
    return seed(fuzz_root, "fuzz")


def _load_schema():
    """The OpenAPI document of a freshly started server (at collection, so every operation
    becomes its own test); requests go to the ``live_server`` of each test."""
    server, cleanup = start_server("sqlite")
    try:
        config = SchemathesisConfig.from_dict(
            {
                "seed": SEED,
                "request-timeout": 60,
                "generation": {"mode": "all", "max-examples": MAX_EXAMPLES},
                "phases": {
                    "examples": {"enabled": False},
                    "coverage": {"enabled": True},
                    "fuzzing": {"enabled": True},
                    "stateful": {"enabled": False},
                },
                "checks": {"enabled": False, **{name: {"enabled": True} for name in CHECKS}},
            }
        )
        loaded = schemathesis.openapi.from_url(server.api_url + "/openapi.json", config=config)
        return loaded, loaded.raw_schema
    finally:
        cleanup()


schema, DOCUMENT = _load_schema()


def test_live_document_is_the_tested_one(live_server: LiveServer):
    """Each backend's server serves the document the tests below were generated from."""
    live = httpx.get(live_server.api_url + "/openapi.json", timeout=30)
    assert live.status_code == 200
    assert live.json() == DOCUMENT


def test_get_operations_take_no_body():
    """A list filter declared without Query() silently became a request body (GET /role)."""
    with_body = [
        path for path, ops in DOCUMENT["paths"].items() if "requestBody" in ops.get("get", {})
    ]
    assert not with_body


def test_role_list_filters_by_organization(fuzz_root: Api):
    org = fuzz_root.ok("POST", "/organization", json={"name": "role filter org"})["id"]
    role = fuzz_root.ok("POST", "/role", json={"name": "filtered", "organization_id": org})["id"]
    page = fuzz_root.ok("GET", "/role", params={"organization_id": org, "per_page": 100})
    assert [r["id"] for r in page["data"]] == [role]


def test_every_success_answer_is_documented():
    """Each operation's 2xx answer names a schema (a model), not just "some object", so the
    response check in ``test_openapi_conformance`` checks its fields."""
    loose = []
    for path, operations in DOCUMENT["paths"].items():
        for method, operation in operations.items():
            success = [code for code in operation["responses"] if code.startswith("2")]
            for code in success:
                content = operation["responses"][code].get("content", {})
                if "application/json" not in content:  # bytes (a blob): a binary string
                    binary = [c.get("schema", {}).get("format") for c in content.values()]
                    if binary == ["binary"]:
                        continue
                schema = content.get("application/json", {}).get("schema", {})
                if not any(key in schema for key in ("$ref", "anyOf", "items")):
                    loose.append(f"{method.upper()} {path} {code}")
    assert not loose


def test_pages_are_documented_as_vantage6_pages():
    """A list answers ``{"data": [...], "links": {...}}`` (docs/design/wire-facts.md)."""
    schemas = DOCUMENT["components"]["schemas"]
    ok = DOCUMENT["paths"]["/api/organization"]["get"]["responses"]["200"]
    page = schemas[ok["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]]
    assert set(page["required"]) == {"data", "links"}
    assert page["properties"]["data"]["items"] == {"$ref": "#/components/schemas/Organization"}
    links = schemas[page["properties"]["links"]["$ref"].rsplit("/", 1)[-1]]
    assert set(links["required"]) == {"first", "self", "last"}


def _protect_root(case, seeded: Seeded) -> None:
    """Keep the run able to go on: root must not delete, rename or lock itself out."""
    path_id = (case.path_parameters or {}).get("id")
    if case.path == "/api/user/{id}" and case.method.upper() in ("PATCH", "DELETE"):
        if str(path_id) == str(seeded.root_user):
            case.path_parameters["id"] = seeded.first("user")
    if case.path == "/api/token/user" and isinstance(case.body, dict):
        if case.body.get("username") == "root":
            case.body["username"] = "not-root"


@pytest.fixture(scope="module")
def fuzz_user(live_server: LiveServer, seeded: Seeded) -> Api:
    """The seeded user: it takes the password changes, whose failures count toward lockout
    (root would be locked out by the fuzzed current passwords)."""
    return Api.as_user(live_server.api_url, "fuzz_user", SEED_PASSWORD)


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
    database=None,
)
def test_openapi_conformance(
    case, live_server: LiveServer, seeded: Seeded, fuzz_root: Api, fuzz_user: Api
):
    _protect_root(case, seeded)
    caller = fuzz_user if case.path == "/api/password/change" else fuzz_root
    case.call_and_validate(
        base_url=live_server.url,
        headers={"Authorization": f"Bearer {caller.token}"},
        checks=[getattr(schemathesis.checks, name) for name in CHECKS],
    )


def test_root_survives_the_run(live_server: LiveServer, fuzz_root: Api):
    """The run above must not have locked root out (else later operations tested nothing)."""
    assert fuzz_root.post("/token/user/validate").status_code == 200
    again = Api.as_user(live_server.api_url, live_server.root_username, live_server.root_password)
    assert again.token
