"""The published vantage6-client 4.14 creates tasks that name an algorithm store.

Usage: python pinned_task.py SPEC_JSON
SPEC_JSON: {"host", "port", "username", "password", "collaboration_id", "organization_id",
"store_id", "approved_image", "unapproved_image"}. Prints one JSON line per step (the
created task's image and store, the refusal's message) and exits non-zero at the first
failed check.
"""

import json
import sys

from vantage6.client import Client

spec = json.loads(sys.argv[1])


def step(name, ok, detail=None):
    print(json.dumps({"step": name, "ok": bool(ok), "detail": detail}, default=str), flush=True)
    if not ok:
        sys.exit(1)


client = Client(spec["host"], spec["port"], "/api", log_level="critical")
client.authenticate(spec["username"], spec["password"])
client.setup_encryption(None)
client.store.set(spec["store_id"])


def create(image):
    return client.task.create(
        collaboration=spec["collaboration_id"],
        organizations=[spec["organization_id"]],
        name="from the store",
        image=image,
        description="",
        input_={"method": "summary_partial"},
        databases=[{"label": "default"}],
    )


task = create(spec["approved_image"])
store = task.get("algorithm_store") or {}
step("task created", "id" in task, task)
print(json.dumps({"task": {"id": task["id"], "image": task["image"], "store": store.get("id")}}))
refused = create(spec["unapproved_image"])
step("unapproved image refused", "id" not in refused, refused)
print(json.dumps({"refused": refused.get("msg")}))
print(json.dumps({"done": True}))
