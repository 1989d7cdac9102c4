"""A blob task with the published vantage6-client 4.14: it sees the server's blob store, uploads
the input as a blob, and reads the result blob. Prints a JSON summary of the results.

Run with the published client's Python: HOST PORT USER PASSWORD KEY_FILE_OR_- COLLAB ORG IMAGE
RESULT_MIB [PAD_MIB] (PAD_MIB MiB of filler in the input, none by default)
"""

import json
import sys

from vantage6.client import Client

host, port, user, password, key, collab, org, image, result_mib = sys.argv[1:10]
pad_mib = int(sys.argv[10]) if len(sys.argv) > 10 else 0
kwargs = {"size_mib": int(result_mib)}
if pad_mib:
    kwargs["pad"] = "0123456789abcdef" * (pad_mib * 65536)
client = Client(host, int(port), "/api", log_level="error")
client.authenticate(user, password)
client.setup_encryption(None if key == "-" else key)
task = client.task.create(
    collaboration=int(collab),
    organizations=[int(org)],
    name="published client blob task",
    image=image,
    description="created by vantage6-client 4.14",
    input_={"method": "blob_result", "kwargs": kwargs},
    databases=[],
)
del kwargs  # the input is uploaded: what stays in memory now is the result's
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
