"""Run with the published vantage6-client 4.14's Python (not collected by pytest).

Creates a task whose algorithm makes a subtask, waits for it, and prints as JSON what the
published client decrypts: the final results, its listing of the subtask's runs (inputs) and
of the subtask's results (partials). Values it could not decrypt stay as the raw text.

Arguments: HOST PORT USER PASSWORD KEY_FILE COLLABORATION ORGANIZATION IMAGE
"""

import json
import sys

from vantage6.client import Client


def items(answer):
    return answer["data"] if isinstance(answer, dict) else answer


def value(text):
    try:
        return json.loads(text)
    except (TypeError, ValueError):
        return text if isinstance(text, str) else repr(text)


host, port, user, password, key, collab, org, image = sys.argv[1:9]
client = Client(host, int(port), "/api", log_level="error")
client.authenticate(user, password)
client.setup_encryption(key)
task = client.task.create(
    collaboration=int(collab),
    organizations=[int(org)],
    name="published client, subtasks",
    image=image,
    description="created by vantage6-client 4.14",
    input_={"method": "central_mean", "kwargs": {"column": "age"}},
    databases=[{"label": "default"}],
)
results = client.wait_for_results(task["id"], interval=0.5)
(child,) = items(client.task.list(parent=task["id"]))
runs = items(client.run.from_task(child["id"]))
partials = items(client.result.from_task(child["id"]))
report = {
    "task_id": task["id"],
    "subtask_id": child["id"],
    "results": [value(r["result"]) for r in items(results)],
    "subtask_runs": [
        {"organization": r["organization"]["id"], "input": value(r["input"])} for r in runs
    ],
    "partials": [value(p["result"]) for p in partials],
}
print(json.dumps(report))
