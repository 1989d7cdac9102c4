"""Run with the published vantage6 4.14 client's python: its blob calls against our server.

``upload HOST PORT PASSWORD SIZE`` uploads SIZE pattern bytes and prints the uuid; ``download
HOST PORT PASSWORD UUID`` downloads and prints the SHA-256 and size. One JSON line each.
"""

import hashlib
import json
import sys

from vantage6.client import Client

mode, host, port, root_password, argument = sys.argv[1:6]
client = Client(host, int(port), "/api", log_level="error")
client.authenticate("root", root_password)
enabled = client.check_if_blob_store_enabled()
if mode == "upload":
    data = hashlib.sha256(b"published").digest() * (int(argument) // 32)
    uuid = client._upload_run_data_to_server(data)
    print(
        json.dumps({"enabled": enabled, "uuid": uuid, "sha256": hashlib.sha256(data).hexdigest()})
    )
else:
    data = client._download_run_data_from_server(argument)
    print(
        json.dumps(
            {"enabled": enabled, "sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}
        )
    )
