"""Drive our algorithm store with the published vantage6-client 4.14's store subclients.

Usage: python store_scenario.py WORLD_JSON
WORLD_JSON: {"host", "port", "store_api_url", "store_id", "users": {name: [username,
password]}, "store_ids": {name: id}, "extra_user": username, "collaboration_id": id or null}.
With a collaboration the scenario first couples the store to it through our server
(``client.store.create``) and every client finds the store with ``client.store.set``.
Runs in the published client's own venv; prints one JSON line per step and exits non-zero at
the first failed check.
"""

import json
import sys

from vantage6.client import Client

world = json.loads(sys.argv[1])


def step(name, ok, detail=None):
    print(json.dumps({"step": name, "ok": bool(ok), "detail": detail}, default=str), flush=True)
    if not ok:
        sys.exit(1)


def rows(result):
    if isinstance(result, dict) and "data" in result:
        return result["data"]
    return result


def logged_in(name):
    username, password = world["users"][name]
    client = Client(world["host"], world["port"], "/api", log_level="critical")
    client.authenticate(username, password)
    return client


coupled_id = None
collaboration = world.get("collaboration_id")
if collaboration:
    # couple the store to a collaboration through our server, then find it from there
    admin_client = logged_in("root")
    store_url = world["store_api_url"].removesuffix("/api")
    coupled = admin_client.store.create(
        store_url, "our store", collaboration=collaboration, force=True
    )
    step("couple store to collaboration", coupled.get("url") == store_url, coupled)
    coupled_id = coupled["id"]
    again = admin_client.store.create(store_url, "again", collaboration=collaboration, force=True)
    step("couple twice refused", "already" in str(again.get("msg")), again)
    listed = rows(admin_client.store.list(collaboration=collaboration))
    step("stores of the collaboration", [s["id"] for s in listed] == [coupled_id], listed)


def client_for(name):
    client = logged_in(name)
    if coupled_id:
        client.store.set(coupled_id)
    else:
        client.store.url = world["store_api_url"]
        client.store.store_id = world["store_id"]
    return client


ids = world["store_ids"]
root, dev, manager, admin = (client_for(n) for n in ("root", "dev", "manager", "admin"))
rev_b1, rev_c = client_for("rev_b1"), client_for("rev_c")

policies = root.store.policy.get()
step("policies", policies.get("min_reviewers") == 2, policies)
public = root.store.policy.get(public=True)
step("public policies", set(public) == {"algorithm_view", "allowed_servers"}, public)

functions = [
    {
        "name": "central_mean",
        "type": "central",
        "standalone": True,
        "databases": [{"name": "default"}],
        "arguments": [
            {"name": "column", "type": "column"},
            {"name": "decimals", "type": "integer", "has_default_value": True, "default_value": 2},
        ],
        "ui_visualizations": [{"name": "result", "type": "table", "schema": {"location": []}}],
    },
    {"name": "partial_mean", "type": "federated", "databases": [{"name": "default"}]},
]
algo = dev.algorithm.create(
    name="mean",
    description="mean of a column",
    image="example/mean:1.0",
    partitioning="horizontal",
    vantage6_version="4.14",
    code_url="https://github.com/example/mean",
    functions=functions,
    documentation_url="https://example.org/mean",
)
step("submit algorithm", algo.get("status") == "awaiting reviewer assignment", algo)
step("digest recorded", str(algo.get("digest", "")).startswith("sha256:"), algo.get("digest"))
aid = algo["id"]
awaiting = rows(dev.algorithm.list(awaiting_reviewer_assignment=True))
step("list awaiting", aid in [a["id"] for a in awaiting], awaiting)
step("not yet approved", aid not in [a["id"] for a in rows(dev.algorithm.list())])

edited = dev.algorithm.update(aid, description="arithmetic mean")
step("edit before review", edited.get("description") == "arithmetic mean", edited)

own = dev.store.review.create(algorithm=aid, reviewer=ids["rev_b1"])
step("developer cannot assign own reviewers", "own algorithm" in own.get("msg", ""), own)
self_review = manager.store.review.create(algorithm=aid, reviewer=ids["dev"])
step("developer cannot review own", "developer" in self_review.get("msg", ""), self_review)

first = manager.store.review.create(algorithm=aid, reviewer=ids["rev_b1"])
step("assign reviewer 1", first.get("status") == "under review", first)
step(
    "one reviewer is not enough", dev.algorithm.get(aid)["status"] == "awaiting reviewer assignment"
)
second = manager.store.review.create(algorithm=aid, reviewer=ids["rev_c"])
step("assign reviewer 2", second.get("id"), second)
under = rows(root.algorithm.list(under_review=True))
step("list under review", aid in [a["id"] for a in under], under)

mine = rows(rev_b1.store.review.list(algorithm=aid, reviewer=ids["rev_b1"]))
step("reviewer lists own review", [r["id"] for r in mine] == [first["id"]], mine)
step("get review", rev_b1.store.review.get(first["id"])["algorithm_id"] == aid)
wrong = rev_b1.store.review.approve(second["id"])
step("cannot approve another's review", "not assigned" in wrong.get("msg", ""), wrong)
ok1 = rev_b1.store.review.approve(first["id"], comment="looks good")
step("approve review 1", "approved" in ok1.get("msg", ""), ok1)
step("still under review", root.algorithm.get(aid)["status"] == "under review")
ok2 = rev_c.store.review.approve(second["id"], comment="fine")
step("approve review 2", "approved" in ok2.get("msg", ""), ok2)
step("algorithm approved", root.algorithm.get(aid)["status"] == "approved")
approved = rows(dev.algorithm.list())
step("list approved", aid in [a["id"] for a in approved], approved)
reviewed = rows(root.store.review.list(algorithm=aid, approved=True))
step("list approved reviews", len(reviewed) == 2, reviewed)
step("approved cannot be edited", "msg" in dev.algorithm.update(aid, description="x"))

# a second algorithm is rejected
other = dev.algorithm.create(
    name="median",
    description="",
    image="example/median:1.0",
    partitioning="vertical",
    vantage6_version="4.14",
    code_url="https://github.com/example/median",
    functions=functions,
)
r1 = manager.store.review.create(algorithm=other["id"], reviewer=ids["rev_b1"])
manager.store.review.create(algorithm=other["id"], reviewer=ids["rev_c"])
rejected = rev_b1.store.review.reject(r1["id"], comment="no tests")
step("reject", "rejected" in rejected.get("msg", ""), rejected)
step("algorithm rejected", root.algorithm.get(other["id"])["status"] == "rejected")
step("list rejected reviews", len(rows(root.store.review.list(rejected=True))) >= 1)

# users, roles and rules
users = rows(root.store.user.list(per_page=100))
step("list users", ids["dev"] in [u["id"] for u in users], len(users))
step("get user", root.store.user.get(ids["dev"])["server"]["url"].endswith("/api"))
viewer = rows(root.store.role.list(name="Viewer"))[0]
root_role = rows(root.store.role.list(name="Root"))[0]
too_much = admin.store.user.register(world["extra_user"], [root_role["id"]])
step("no escalation on register", "rule" in too_much.get("msg", ""), too_much)
extra = admin.store.user.register(world["extra_user"], [viewer["id"]])
step("register user", extra.get("username") == world["extra_user"], extra)
step(
    "users by role",
    extra["id"] in [u["id"] for u in rows(root.store.user.list(role=viewer["id"], per_page=100))],
)
rules = rows(root.store.rule.list(per_page=100))
step("list rules", len(rules) >= 17, len(rules))
view_rules = [r["id"] for r in rules if r["operation"] == "view"]
role = admin.store.role.create(
    "auditor",
    "views things",
    [
        r
        for r in view_rules
        if r in [x["id"] for x in rows(admin.store.rule.list(role=viewer["id"], per_page=100))]
    ],
)
step("create role", role.get("name") == "auditor", role)
edited_role = admin.store.role.edit(role["id"], description="audits")
step("edit role", edited_role.get("description") == "audits", edited_role)
step("rules of role", len(rows(root.store.rule.list(role=role["id"]))) >= 1)
updated = admin.store.user.update(extra["id"], roles=[role["id"]])
step("update user roles", updated.get("id") == extra["id"], updated)
admin.store.user.update(extra["id"], roles=[])
admin.store.role.delete(role["id"])
step("delete role", not rows(root.store.role.list(name="auditor")))
admin.store.user.delete(extra["id"])
step("delete user", extra["id"] not in [u["id"] for u in rows(root.store.user.list(per_page=100))])
step("rules of a user", rows(root.store.rule.list(username=world["users"]["dev"][0], per_page=100)))

# invalidate and delete
gone = manager.algorithm.invalidate(aid)
step("invalidate", "invalidated" in gone.get("msg", ""), gone)
step("list invalidated", aid in [a["id"] for a in rows(root.algorithm.list(invalidated=True))])
manager.algorithm.delete(other["id"])
step("delete algorithm", "not found" in root.algorithm.get(other["id"]).get("msg", ""))
if coupled_id:
    renamed = root.store.update(coupled_id, name="renamed store")
    step("rename coupled store", renamed.get("name") == "renamed store", renamed)
    root.store.delete(coupled_id)
    step("uncouple store", "not found" in str(root.store.get(coupled_id).get("msg", "")).lower())
print(json.dumps({"done": True}), flush=True)
