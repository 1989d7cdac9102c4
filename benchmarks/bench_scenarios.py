"""The measurements, written against the vantage6 4.x REST API so the same code
drives our server and the reference one.

Both servers run at the same time (each idle while the other is measured) and the
measurements alternate between them in rounds/blocks, so that a burst of load from
something else on the machine hits both rather than one.
"""

from __future__ import annotations

import os
import statistics
import time
from dataclasses import dataclass, field

from bench_http import KeepAliveClient, latency_summary, measure_throughput
from bench_servers import ManagedServer, cpu_busy_fraction, log, wait_for_quiet

# Every collaboration used for the node stages holds this many organizations, so
# each collaboration carries that many nodes (one per organization).
ORGS_PER_COLLAB = 10
# the list measured one request at a time and under concurrent connections
LIST_PATH = "/api/organization?page=1&per_page=10"


@dataclass
class Plan:
    """How much to measure; ``quick`` trades precision for run time."""

    throughput_connections: int = 64
    # authenticated GET /api/organization under load (issue 10 measured it at 32)
    list_throughput_connections: int = 32
    throughput_duration_s: int = 10
    throughput_rounds: int = 3
    throughput_warmup_s: int = 3
    latency_blocks: int = 5
    org_list_requests: int = 1000
    org_list_warmup: int = 50
    org_create_requests: int = 200
    org_create_warmup: int = 10
    node_counts: tuple[int, ...] = (1, 100, 1000)
    # per server: node count -> login attempts (a count missing here is skipped)
    node_login_attempts: dict[str, dict[int, int]] = field(default_factory=dict)
    # stop a node-login stage early once it used this much time (after >= 1 attempt)
    node_login_budget_s: float = 600.0
    # per server: log each sampled node in once (timed apart as "first_login")
    # before the timed logins, so every stage times the same kind of login
    node_login_prime: dict[str, bool] = field(default_factory=dict)


# Our server records the node's address on its first login (one UPDATE + COMMIT),
# so a first login costs more than later ones; with 1 node every timed login but
# the first is a repeat, with 1000 nodes every one would be a first. Priming makes
# all stages time repeat logins (first logins are reported apart). vantage6 4.14
# writes nothing on node login and its cost (the bcrypt scan) does not depend on
# history, so it is not primed: that would only double its minutes-long stages.
PRIME = {"ours": True, "reference": False}


def make_plan(quick: bool) -> Plan:
    # The reference checks the api key against every registered node with bcrypt
    # (~0.3 s each here) until one matches, so its attempts are capped; registering
    # 1000 nodes on it also costs ~5 minutes (one bcrypt hash each), so --quick
    # skips the 1000-node stage for the reference.
    if quick:
        return Plan(
            throughput_duration_s=5,
            throughput_rounds=2,
            throughput_warmup_s=2,
            latency_blocks=3,
            org_list_requests=300,
            org_create_requests=60,
            node_login_attempts={
                "ours": {1: 30, 100: 30, 1000: 30},
                "reference": {1: 10, 100: 2},
            },
            node_login_budget_s=120.0,
            node_login_prime=PRIME,
        )
    return Plan(
        node_login_attempts={
            "ours": {1: 100, 100: 100, 1000: 100},
            "reference": {1: 20, 100: 5, 1000: 2},
        },
        node_login_prime=PRIME,
    )


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


class Side:
    """One server under test and what was measured on it."""

    def __init__(self, name: str, server: ManagedServer) -> None:
        self.name = name
        self.server = server
        self.client: KeepAliveClient | None = None
        self.fleet: NodeFleet | None = None
        self.result: dict = {}
        self.failed = False

    @property
    def label(self) -> str:
        return self.server.label


def _alternate(sides: list[Side], index: int) -> list[Side]:
    live = [s for s in sides if not s.failed]
    return live if index % 2 == 0 else live[::-1]


def _guard(side: Side, phase: str, fn) -> None:
    """Run ``fn`` for ``side``; on failure record the error and drop the side."""
    try:
        fn()
    except Exception as exc:  # one server failing must not lose the other's figures
        side.failed = True
        side.result.setdefault("errors", []).append(f"{phase}: {type(exc).__name__}: {exc}")
        log(f"{side.label}: {phase} failed: {exc}")


# --------------------------------------------------------------------------- phases


def phase_throughput(sides: list[Side], plan: Plan) -> None:
    """``GET /api/version`` req/s, alternating servers over several rounds."""
    throughput_phase(
        sides,
        plan,
        "version_throughput",
        "/api/version",
        plan.throughput_connections,
        authenticated=False,
    )


def phase_list_throughput(sides: list[Side], plan: Plan) -> None:
    """Authenticated ``GET /api/organization`` req/s under concurrent connections."""
    throughput_phase(
        sides,
        plan,
        "org_list_throughput",
        LIST_PATH,
        plan.list_throughput_connections,
        authenticated=True,
    )


def throughput_phase(
    sides: list[Side],
    plan: Plan,
    key: str,
    path: str,
    connections: int,
    authenticated: bool,
) -> None:
    """Req/s of ``GET path`` at ``connections``, rounds alternating between the sides."""
    quiet = wait_for_quiet()
    rounds: dict[str, list[dict]] = {s.name: [] for s in sides}
    for r in range(plan.throughput_rounds):
        for side in _alternate(sides, r):
            log(
                f"{side.label}: GET {path} throughput round {r + 1}/{plan.throughput_rounds}, "
                f"{connections} connections, {plan.throughput_duration_s}s"
            )

            def run(side=side, r=r):
                url = f"{side.server.base_url}{path}"
                headers = [f"Authorization: Bearer {side.client.token}"] if authenticated else []
                if r == 0 and plan.throughput_warmup_s:
                    measure_throughput(url, connections, plan.throughput_warmup_s, 0, headers)
                cpu0 = side.server.cpu_seconds()
                t0 = time.monotonic()
                busy = cpu_busy_fraction()
                res = measure_throughput(url, connections, plan.throughput_duration_s, 0, headers)
                elapsed = time.monotonic() - t0
                cpu = side.server.cpu_seconds() - cpu0
                res["server_cpu_cores"] = round(cpu / elapsed, 2)
                if res.get("requests") and cpu > 0:
                    # robust to other load on the machine: work done per CPU second
                    res["req_per_server_cpu_s"] = round(res["requests"] / cpu, 1)
                    res["server_cpu_ms_per_request"] = round(cpu * 1000 / res["requests"], 3)
                res["machine_busy_fraction"] = busy.stop()
                # CPU that neither this server nor the load generator used: other load
                res["other_cpu_cores"] = round(
                    max(
                        0.0,
                        res["machine_busy_fraction"] * (os.cpu_count() or 1)
                        - res["server_cpu_cores"]
                        - res.get("loadgen_cpu_cores", 0.0),
                    ),
                    2,
                )
                if res.get("non_2xx") or res.get("socket_errors"):
                    log(
                        f"{side.label}: {res.get('non_2xx')} non-2xx answers, "
                        f"{res.get('socket_errors')} socket errors"
                    )
                rounds[side.name].append(res)

            _guard(side, key, run)
    for side in sides:
        runs = rounds[side.name]
        if not runs:
            continue

        def median(field: str, runs=runs) -> float:
            return statistics.median(r.get(field, float("nan")) for r in runs)

        side.result[key] = {
            "path": path,
            "authenticated": authenticated,
            "rps": round(statistics.median(r["rps"] for r in runs), 1),
            "rps_rounds": [r["rps"] for r in runs],
            "req_per_server_cpu_s": median("req_per_server_cpu_s"),
            "server_cpu_ms_per_request": median("server_cpu_ms_per_request"),
            "p50_ms": median("p50_ms"),
            "p99_ms": median("p99_ms"),
            "connections": connections,
            "duration_s": plan.throughput_duration_s,
            "tool": runs[0]["tool"],
            "command": runs[0]["command"],
            "machine_idle_before": quiet,
            "rounds": runs,
        }


def latency_phase(
    sides: list[Side],
    plan: Plan,
    key: str,
    total: int,
    warmup: int,
    make_request,
    describe: str,
) -> None:
    """Sequential latency of ``make_request(side, i)``, in blocks alternating the sides."""
    samples: dict[str, list[float]] = {s.name: [] for s in sides}
    reconnects: dict[str, int] = {s.name: 0 for s in sides}
    cpu_used: dict[str, float] = {s.name: 0.0 for s in sides}
    for side in sides:
        if not side.failed:
            _guard(
                side,
                key,
                lambda side=side: [
                    side.client.request(*make_request(side, -1 - i)) for i in range(warmup)
                ],
            )
    per_block = max(1, total // plan.latency_blocks)
    for b in range(plan.latency_blocks):
        for side in _alternate(sides, b):
            if b == 0:
                log(f"{side.label}: {describe} x {total} in {plan.latency_blocks} blocks")

            def run(side=side, b=b):
                before = side.client.reconnects
                cpu0 = side.server.cpu_seconds()
                for i in range(per_block):
                    method, path, body = make_request(side, b * per_block + i)
                    samples[side.name].append(side.client.timed(method, path, body))
                cpu_used[side.name] += side.server.cpu_seconds() - cpu0
                reconnects[side.name] += side.client.reconnects - before

            _guard(side, key, run)
    for side in sides:
        if samples[side.name]:
            side.result[key] = {
                **latency_summary(samples[side.name]),
                "reconnects": reconnects[side.name],
                # CPU time the server spent per request (clock-tick resolution, summed)
                "server_cpu_ms_per_request": round(
                    cpu_used[side.name] * 1000 / len(samples[side.name]), 3
                ),
            }


def phase_org_create(sides: list[Side], plan: Plan) -> None:
    stamp = int(time.time())

    def request(side: Side, i: int):
        body = {"name": f"bench-{stamp}-{i}", "country": "NL", "domain": f"b{i}.example.org"}
        return "POST", "/organization", body

    latency_phase(
        sides,
        plan,
        "org_create",
        plan.org_create_requests,
        plan.org_create_warmup,
        request,
        "POST /api/organization",
    )


def phase_org_list(sides: list[Side], plan: Plan) -> None:
    path = LIST_PATH.removeprefix("/api")
    latency_phase(
        sides,
        plan,
        "org_list",
        plan.org_list_requests,
        plan.org_list_warmup,
        lambda side, i: ("GET", path, None),
        "GET /api/organization (kept-alive)",
    )
    for side in sides:
        if side.failed or "org_list" not in side.result:
            continue
        _, body = side.client.request("GET", path)
        side.result["org_list"]["query"] = path
        side.result["org_list"]["items_returned"] = len(body.get("data", []))


def phase_node_login(sides: list[Side], plan: Plan) -> None:
    for side in sides:
        if not side.failed:
            side.fleet = NodeFleet(side.client, side.label)
            side.result["node_login"] = {}
    for count in plan.node_counts:
        for side in sides:
            attempts = plan.node_login_attempts.get(side.name, {}).get(count)
            if side.failed or attempts is None:
                continue

            def run(side=side, count=count, attempts=attempts):
                side.fleet.grow_to(count)
                side.result["node_login"][str(count)] = bench_node_login(
                    side.server,
                    side.fleet,
                    attempts,
                    plan.node_login_budget_s,
                    prime=plan.node_login_prime.get(side.name, False),
                )

            _guard(side, f"node login ({count} nodes)", run)
    for side in sides:
        if side.fleet and side.fleet.create_seconds:
            side.result["node_register"] = latency_summary(side.fleet.create_seconds)


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
        self.logged_in: set[int] = set()  # indexes of nodes that logged in before

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
    server: ManagedServer, fleet: NodeFleet, attempts: int, budget_s: float, prime: bool = False
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
    # one untimed login first (connection set-up); the first node is the cheapest
    # one for a server that scans in registration order
    client.request("POST", "/token/node", {"api_key": fleet.api_keys[0]}, auth=False)
    fleet.logged_in.add(0)

    def login(pos: int) -> float:
        t0 = time.perf_counter()
        _, body = client.request(
            "POST", "/token/node", {"api_key": fleet.api_keys[pos]}, auth=False
        )
        elapsed = time.perf_counter() - t0
        if not body.get("access_token"):
            raise RuntimeError(f"node login gave no token: {body}")
        fleet.logged_in.add(pos)
        return elapsed

    first: list[float] = []
    if prime:
        for pos in dict.fromkeys(positions):
            if pos not in fleet.logged_in:
                first.append(login(pos))
    samples: list[float] = []
    started = time.monotonic()
    capped = False
    for pos in positions:
        if samples and time.monotonic() - started > budget_s:
            capped = True
            break
        samples.append(login(pos))
    client.close()
    result = {
        "nodes_registered": n,
        **latency_summary(samples),
        "attempts_planned": attempts,
        "capped_by_time_budget": capped,
        "positions": positions[: len(samples)],
        "timed_logins": "repeat logins (primed)" if prime else "as sampled",
    }
    if first:
        result["first_login"] = latency_summary(first)
    return result
