"""The measurements, written against the vantage6 4.x REST API so the same code
drives our server and the reference one."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from bench_http import KeepAliveClient, latency_summary, measure_throughput
from bench_servers import ManagedServer, log

# Every collaboration used for the node stages holds this many organizations, so
# each collaboration carries that many nodes (one per organization).
ORGS_PER_COLLAB = 10


@dataclass
class Plan:
    """How much to measure; ``quick`` trades precision for run time."""

    throughput_connections: int = 64
    throughput_duration_s: int = 10
    throughput_warmup_s: int = 3
    org_list_requests: int = 1000
    org_list_warmup: int = 50
    org_create_requests: int = 200
    org_create_warmup: int = 10
    node_counts: tuple[int, ...] = (1, 100, 1000)
    # attempts per node count; a mapping from node count to attempts
    node_login_attempts: dict[int, int] = field(default_factory=dict)
    # stop a node-login stage early once it used this much time (after >= 1 attempt)
    node_login_budget_s: float = 600.0


def plan_for(server: str, quick: bool) -> Plan:
    if server == "ours":
        if quick:
            return Plan(
                throughput_duration_s=5,
                throughput_warmup_s=2,
                org_list_requests=300,
                org_create_requests=60,
                node_login_attempts={1: 30, 100: 30, 1000: 30},
            )
        return Plan(node_login_attempts={1: 100, 100: 100, 1000: 100})
    # Reference: node login scans every node with a bcrypt check (~0.3 s each on
    # this machine), so attempts are capped; 1000 nodes also costs ~5 min just
    # to register them (one bcrypt hash per node) and is skipped in --quick.
    if quick:
        return Plan(
            throughput_duration_s=5,
            throughput_warmup_s=2,
            org_list_requests=300,
            org_create_requests=60,
            node_counts=(1, 100),
            node_login_attempts={1: 10, 100: 2},
            node_login_budget_s=120.0,
        )
    return Plan(node_login_attempts={1: 20, 100: 5, 1000: 2}, node_login_budget_s=600.0)


def login_root(server: ManagedServer) -> KeepAliveClient:
    client = KeepAliveClient(server.host, server.port)
    _, body = client.request(
        "POST",
        "/token/user",
        {"username": server.root_username, "password": server.root_password},
        auth=False,
    )
    client.token = body["access_token"]
    return client


def bench_version_throughput(server: ManagedServer, plan: Plan) -> dict:
    log(
        f"{server.label}: GET /api/version throughput, {plan.throughput_connections} "
        f"connections, {plan.throughput_duration_s}s"
    )
    return measure_throughput(
        f"{server.base_url}/api/version",
        plan.throughput_connections,
        plan.throughput_duration_s,
        plan.throughput_warmup_s,
    )


def bench_org_create(client: KeepAliveClient, server: ManagedServer, plan: Plan) -> dict:
    log(f"{server.label}: POST /api/organization x {plan.org_create_requests}")
    stamp = int(time.time())
    for i in range(plan.org_create_warmup):
        client.request("POST", "/organization", {"name": f"warm-{stamp}-{i}"})
    before = client.reconnects
    samples = [
        client.timed(
            "POST",
            "/organization",
            {"name": f"bench-{stamp}-{i}", "country": "NL", "domain": f"b{i}.example.org"},
        )
        for i in range(plan.org_create_requests)
    ]
    return {**latency_summary(samples), "reconnects": client.reconnects - before}


def bench_org_list(client: KeepAliveClient, server: ManagedServer, plan: Plan) -> dict:
    log(f"{server.label}: GET /api/organization x {plan.org_list_requests} (kept-alive)")
    path = "/organization?page=1&per_page=10"
    _, body = client.request("GET", path)
    for _ in range(plan.org_list_warmup):
        client.request("GET", path)
    before = client.reconnects
    samples = [client.timed("GET", path) for _ in range(plan.org_list_requests)]
    total = None
    if isinstance(body, dict):
        total = (body.get("links") or {}).get("total")
    items = len(body["data"]) if isinstance(body, dict) and "data" in body else None
    return {
        **latency_summary(samples),
        "reconnects": client.reconnects - before,
        "query": path,
        "items_per_page": items,
        "organizations_total": total,
    }


class NodeFleet:
    """Registers nodes through the API: collaborations of ``ORGS_PER_COLLAB``
    organizations, one node per (organization, collaboration)."""

    def __init__(self, client: KeepAliveClient, label: str) -> None:
        self.client = client
        self.label = label
        self.org_ids: list[int] = []
        self.api_keys: list[str] = []
        self.collab_ids: list[int] = []
        self._pending: list[tuple[int, int]] = []  # (collab_id, org_id) without node yet
        self.create_seconds: list[float] = []

    def _setup_orgs(self) -> None:
        stamp = int(time.time())
        for i in range(ORGS_PER_COLLAB):
            _, body = self.client.request(
                "POST", "/organization", {"name": f"node-org-{stamp}-{i}"}
            )
            self.org_ids.append(body["id"])

    def _new_collaboration(self) -> None:
        index = len(self.collab_ids)
        _, body = self.client.request(
            "POST",
            "/collaboration",
            {
                "name": f"bench-collab-{index}",
                "organization_ids": self.org_ids,
                "encrypted": False,
            },
        )
        self.collab_ids.append(body["id"])
        self._pending.extend((body["id"], org) for org in self.org_ids)

    def grow_to(self, count: int) -> None:
        if not self.org_ids:
            self._setup_orgs()
        todo = count - len(self.api_keys)
        if todo <= 0:
            return
        log(f"{self.label}: registering {todo} nodes (to {count})")
        started = time.monotonic()
        while len(self.api_keys) < count:
            if not self._pending:
                self._new_collaboration()
            collab_id, org_id = self._pending.pop(0)
            t0 = time.perf_counter()
            _, body = self.client.request(
                "POST",
                "/node",
                {
                    "collaboration_id": collab_id,
                    "organization_id": org_id,
                    "name": f"bench-node-{len(self.api_keys)}",
                },
            )
            self.create_seconds.append(time.perf_counter() - t0)
            self.api_keys.append(body["api_key"])
        log(f"{self.label}: {count} nodes registered ({time.monotonic() - started:.1f}s)")


def bench_node_login(
    server: ManagedServer, fleet: NodeFleet, count: int, attempts: int, budget_s: float
) -> dict:
    """Log in as nodes spread evenly over the registration order.

    A server that scans nodes in registration order pays for the node's position;
    sampling evenly spread nodes gives the average case rather than the best.
    """
    n = len(fleet.api_keys)
    attempts = max(1, attempts)
    if attempts <= n:
        positions = [min(n - 1, int((i + 0.5) * n / attempts)) for i in range(attempts)]
    else:  # more attempts than nodes: go round all of them
        positions = [i % n for i in range(attempts)]
    log(f"{server.label}: POST /api/token/node with {n} nodes, up to {attempts} attempts")
    client = KeepAliveClient(server.host, server.port)
    # one untimed login (connection set-up, caches) on a node outside the sample when possible
    client.request("POST", "/token/node", {"api_key": fleet.api_keys[0]}, auth=False)
    samples: list[float] = []
    started = time.monotonic()
    capped = False
    for pos in positions:
        if samples and time.monotonic() - started > budget_s:
            capped = True
            break
        t0 = time.perf_counter()
        _, body = client.request(
            "POST", "/token/node", {"api_key": fleet.api_keys[pos]}, auth=False
        )
        samples.append(time.perf_counter() - t0)
        if not body.get("access_token"):
            raise RuntimeError(f"node login gave no token: {body}")
    client.close()
    return {
        "nodes_registered": n,
        **latency_summary(samples),
        "attempts_planned": attempts,
        "capped_by_time_budget": capped,
        "positions": positions[: len(samples)],
    }
