"""Drive our live server with the published vantage6-client 4.14 (run in its own venv).

Usage: python scenario.py HOST PORT ROOT_PASSWORD PRIVATE_KEY_FILE
Exits non-zero on the first failed check; prints one JSON line per step.
"""

import json
import sys
import uuid

from vantage6.client import Client
from vantage6.common.client.client_base import ClientBase

host, port, root_password, key_file = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
suffix = uuid.uuid4().hex[:6]


def step(name, ok, detail=None):
    print(json.dumps({"step": name, "ok": bool(ok), "detail": detail}), flush=True)
    if not ok:
        sys.exit(1)


client = Client(host, port, "/api", log_level="error")
client.authenticate("root", root_password)
step("login", client.whoami is not None and client.whoami.organization_name == "root")
step("version", client.util.get_server_version().get("version", "").startswith("4."))
# refresh tokens are single use: the client keeps the one each refresh hands back
for i in range(2):
    before = client.token
    client.refresh_token()
    step(f"refresh token {i}", client.token != before and client.whoami is not None)
step("works after refresh", client.organization.get(client.whoami.organization_id)["id"])

orgs = []
for i in range(3):
    org = client.organization.create(
        name=f"org{i}-{suffix}",
        address1="Street 1",
        address2="",
        zipcode="1234AB",
        country="NL",
        domain=f"org{i}.example",
    )
    step(f"create organization {i}", org.get("id") and org["name"] == f"org{i}-{suffix}", org)
    orgs.append(org)
org_ids = [o["id"] for o in orgs]

# root's organization takes part: only members create tasks (as in vantage6 4.14)
root_org = client.whoami.organization_id
plain = client.collaboration.create(f"plain-{suffix}", [*org_ids, root_org], encrypted=False)
step("create unencrypted collaboration", plain.get("encrypted") is False, plain)
secret = client.collaboration.create(f"secret-{suffix}", [*org_ids[:2], root_org], encrypted=True)
step("create encrypted collaboration", secret.get("encrypted") is True, secret)

nodes = [client.node.create(collaboration=plain["id"], organization=oid) for oid in org_ids]
step("create nodes", all(n.get("api_key") for n in nodes), [n.get("name") for n in nodes])
enc_node = client.node.create(collaboration=secret["id"], organization=org_ids[0])
step("create node in encrypted collaboration", enc_node.get("api_key"))

researcher_role = next(
    r for r in client.role.list(name="Researcher", per_page=50)["data"] if r["name"] == "Researcher"
)
user = client.user.create(
    username=f"res-{suffix}",
    firstname="Re",
    lastname="Searcher",
    password="Str0ng-Passw0rd!",
    email=f"res-{suffix}@example.org",
    organization=org_ids[0],
    roles=[researcher_role["id"]],
)
step("create user with role", user.get("id") and user["username"] == f"res-{suffix}", user)
role = client.role.create(
    name=f"custom-{suffix}", description="custom", rules=[1, 2], organization=org_ids[0]
)
step("create custom role", role.get("id"), role)

# list, get, filter and page
page1 = client.organization.list(page=1, per_page=2)
step("organization page 1", len(page1["data"]) == 2 and "links" in page1, page1.get("links"))
page2 = client.organization.list(page=2, per_page=2)
step(
    "organization page 2",
    len(page2["data"]) >= 1
    and {o["id"] for o in page1["data"]}.isdisjoint({o["id"] for o in page2["data"]}),
)
step("organization get", client.organization.get(org_ids[1])["name"] == f"org1-{suffix}")
step(
    "organization filter",
    [o["id"] for o in client.organization.list(name=f"org2-{suffix}")["data"]] == [org_ids[2]],
)
step(
    "collaboration filter",
    [
        c["id"]
        for c in client.collaboration.list(scope="global", encrypted=True, name=f"secret-{suffix}")[
            "data"
        ]
    ]
    == [secret["id"]],
)
node_list = client.node.list(collaboration=plain["id"])["data"]
step(
    "node list by collaboration",
    sorted(n["id"] for n in node_list) == sorted(n["id"] for n in nodes),
)
step("node get", client.node.get(nodes[0]["id"])["name"] == nodes[0]["name"])
step(
    "user filter",
    [u["id"] for u in client.user.list(username=f"res-{suffix}")["data"]] == [user["id"]],
)
step("role get", client.role.get(role["id"])["name"] == f"custom-{suffix}")
rules = client.rule.list(operation="v", scope="glo", per_page=100)["data"]
step(
    "rule filter",
    rules and all(r["operation"] == "VIEW" and r["scope"] == "GLOBAL" for r in rules),
    len(rules),
)

# a task in the unencrypted collaboration
client.setup_encryption(None)
task = client.task.create(
    collaboration=plain["id"],
    organizations=org_ids,
    name="compat",
    image="v6-demo",
    description="published client task",
    input_={"method": "summary", "kwargs": {}},
    databases=[{"label": "default"}],
)
step("create task", task.get("id") and task.get("status") == "pending", task)
runs = client.run.from_task(task["id"])
runs = runs["data"] if isinstance(runs, dict) else runs
step("one run per organization", sorted(r["organization"]["id"] for r in runs) == sorted(org_ids))
step(
    "input round trip",
    all(json.loads(r["input"]) == {"method": "summary", "kwargs": {}} for r in runs),
    runs[0]["input"],
)
listed = client.task.list(collaboration=plain["id"], name="compat")["data"]
step("task list filter", [t["id"] for t in listed] == [task["id"]])
step("task get", client.task.get(task["id"])["image"] == "v6-demo")

# the node side: log in with the API key and see the open runs
node_client = ClientBase(host, port, "/api")
node_client.authenticate({"api_key": nodes[1]["api_key"]}, path="token/node")
open_runs = node_client.request(
    "run", params={"state": "open", "node_id": nodes[1]["id"], "include": "task"}
)["data"]
step(
    "node sees its open runs",
    [r["task"]["id"] for r in open_runs] == [task["id"]]
    and open_runs[0]["organization"]["id"] == org_ids[1],
    open_runs,
)

# encrypted collaboration: the input must be encrypted with the organization's key
client.setup_encryption(key_file)
pub = client.cryptor.public_key_str
client.organization.update(id_=org_ids[0], public_key=pub)
enc_task = client.task.create(
    collaboration=secret["id"],
    organizations=[org_ids[0]],
    name="secret-task",
    image="v6-demo",
    description="",
    input_={"method": "summary"},
    databases=[{"label": "default"}],
)
step("create encrypted task", enc_task.get("id"), enc_task)
stored_input = client.request("run", params={"task_id": enc_task["id"]})["data"][0]["input"]
step("server stores ciphertext", "$" in stored_input and "summary" not in stored_input)

client.task.kill(task["id"])
step("kill task", client.task.get(task["id"])["status"] == "killed by user")
client.task.delete(task["id"])
gone = client.request(f"task/{task['id']}")
step("delete task", "not found" in gone.get("msg", ""), gone)
print(json.dumps({"done": True}))
