"""Create a task with the published vantage6-client 4.14 and print its decoded results as JSON.

Run with the published client's Python: HOST PORT USER PASSWORD KEY_FILE_OR_- COLLAB ORG IMAGE
"""

import json
import sys

from vantage6.client import Client

host, port, user, password, key, collab, org, image = sys.argv[1:9]
client = Client(host, int(port), "/api", log_level="error")
client.authenticate(user, password)
client.setup_encryption(None if key == "-" else key)
task = client.task.create(
    collaboration=int(collab),
    organizations=[int(org)],
    name="published client task",
    image=image,
    description="created by vantage6-client 4.14",
    input_={"method": "central_mean", "kwargs": {"column": "age"}},
    databases=[{"label": "default"}],
)
results = client.wait_for_results(task["id"], interval=0.5)
print(json.dumps({"task_id": task["id"], "results": [r["result"] for r in results["data"]]}))
