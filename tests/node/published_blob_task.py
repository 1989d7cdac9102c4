"""A blob task with the published vantage6-client 4.14: it sees the server's blob store, uploads
the input as a blob, and reads the result blob. Prints a JSON summary of the results.

Run with the published client's Python: HOST PORT USER PASSWORD KEY_FILE_OR_- COLLAB ORG IMAGE
RESULT_MIB
"""

import json
import sys

from vantage6.client import Client

host, port, user, password, key, collab, org, image, result_mib = sys.argv[1:10]
client = Client(host, int(port), "/api", log_level="error")
client.authenticate(user, password)
client.setup_encryption(None if key == "-" else key)
task = client.task.create(
    collaboration=int(collab),
    organizations=[int(org)],
    name="published client blob task",
    image=image,
    description="created by vantage6-client 4.14",
    input_={"method": "blob_result", "kwargs": {"size_mib": int(result_mib)}},
    databases=[],
)
results = client.wait_for_results(task["id"], interval=0.5)
summary = []
for item in results["data"]:
    value = item["result"]
    if isinstance(value, bytes):
        value = value.decode()
    if isinstance(value, str):  # 4.14 may hand back the JSON text
        value = json.loads(value)
    summary.append(
        {
            "blob_storage_used": item.get("blob_storage_used"),
            "input_bytes": value.get("input_bytes") if isinstance(value, dict) else None,
            "filler_bytes": len(value.get("filler", "")) if isinstance(value, dict) else None,
            "type": type(value).__name__,
        }
    )
print(json.dumps({"task_id": task["id"], "results": summary}))
