"""Run with the published vantage6 4.14 client's python against a server with a blob store.

``create URL USER PASSWORD KEY COLLAB ORGS MARKER`` creates a task (input uploaded as blobs by
4.14) and prints its id; ``results URL USER PASSWORD KEY TASK`` prints the decoded results.
KEY is a private key file or ``-``. One JSON line each.
"""

import json
import sys
from urllib.parse import urlsplit

from vantage6.client import Client

mode, url, username, password, key = sys.argv[1:6]
parts = urlsplit(url)
client = Client(f"{parts.scheme}://{parts.hostname}", parts.port, parts.path, log_level="error")
client.authenticate(username, password)
client.setup_encryption(None if key == "-" else key)
if mode == "create":
    collab, orgs, marker = sys.argv[6:9]
    task = client.task.create(
        collaboration=int(collab),
        organizations=[int(o) for o in orgs.split(",")],
        name="published blob task",
        image="localhost/v6demo",
        description="from vantage6 4.14",
        input_={"method": "echo", "kwargs": {"marker": marker}},
        databases=[{"label": "default"}],
    )
    print(json.dumps({"task": task["id"], "enabled": client.check_if_blob_store_enabled()}))
else:
    results = client.result.from_task(int(sys.argv[6]))
    items = results["data"] if isinstance(results, dict) else results
    decoded = []
    for item in items:
        value = item["result"]
        decoded.append(json.loads(value) if isinstance(value, (str, bytes)) else value)
    print(json.dumps({"results": decoded}))
