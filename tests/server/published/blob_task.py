"""Run with the published vantage6 4.14 client's python: a task whose input goes to the blob
store, and reading its results back.

``create HOST PORT PASSWORD KEY_FILE|- COLLABORATION ORGANIZATION`` creates the task (the
client uploads the input itself when the server says the store is enabled); ``result HOST PORT
PASSWORD KEY_FILE|- TASK_ID`` prints the results as the client decrypts them. One JSON line per
step, then ``{"done": true}``.
"""

import json
import sys

from vantage6.client import Client

mode, host, port, password, key_file = sys.argv[1:6]


def step(name, ok, detail=None):
    print(json.dumps({"step": name, "ok": bool(ok), "detail": detail}), flush=True)
    if not ok:
        sys.exit(1)


client = Client(host, int(port), "/api", log_level="error")
client.authenticate("root", password)
client.setup_encryption(None if key_file == "-" else key_file)
step("store enabled", client.check_if_blob_store_enabled() is True)
if mode == "create":
    collaboration, organization = int(sys.argv[6]), int(sys.argv[7])
    task = client.task.create(
        collaboration=collaboration,
        organizations=[organization],
        name="published-blob",
        image="img:1",
        description="input through the blob store",
        input_={"method": "average", "kwargs": {"column": "age"}},
        databases=[{"label": "default"}],
    )
    step("create task", task.get("id"), {"task_id": task.get("id")})
else:
    results = client.result.from_task(int(sys.argv[6]))
    step("results", results.get("data"), {"results": [r["result"] for r in results["data"]]})
print(json.dumps({"done": True}))
