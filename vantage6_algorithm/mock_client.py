"""Run a whole federated algorithm (central and partial parts) in one process for testing.

:class:`MockAlgorithmClient` has the interface of
:class:`~vantage6_algorithm.client.AlgorithmClient`, but ``task.create`` runs the requested
function right away, once per organization, on that organization's mocked data. Inputs and
results go through the same JSON encoding as on the real wire, so a result that would not
survive the trip to the server fails here too.

Example::

    client = MockAlgorithmClient(
        datasets=[[{"database": df_a}], [{"database": "b.csv", "db_type": "csv"}]],
        module="v6demo",
    )
    task = client.task.create({"method": "summary", "kwargs": {}}, organizations=[0])
    summary = client.wait_for_results(task["id"])[0]
"""

from __future__ import annotations

import importlib
import tempfile
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from vantage6_algorithm.data import load_data
from vantage6_algorithm.decorators import RunMetaData
from vantage6_common.serialization import decode_payload, dumps, encode_payload, loads

__all__ = ["MockAlgorithmClient"]

_TIMESTAMP = "2024-01-01T00:00:00.000000"


def _stub(kind: str, id_: int | None) -> dict | None:
    if id_ is None:
        return None
    return {"id": id_, "link": f"/api/{kind}/{id_}", "methods": ["GET"]}


@dataclass
class _MockDataset:
    frame: pd.DataFrame
    label: str | None


@dataclass
class _MockState:
    """Everything the mocked server knows; shared by all client views of one mock."""

    module: str
    collaboration_id: int
    organization_ids: list[int]
    node_ids: list[int]
    datasets: dict[int, list[_MockDataset]]
    raise_errors: bool
    tasks: list[dict] = field(default_factory=list)
    runs: list[dict] = field(default_factory=list)
    tmp: tempfile.TemporaryDirectory | None = None

    def node_of(self, org_id: int) -> int:
        return self.node_ids[self.organization_ids.index(org_id)]

    def temporary_directory(self) -> Path:
        if self.tmp is None:
            self.tmp = tempfile.TemporaryDirectory(prefix="v6-mock-")
        return Path(self.tmp.name)


def _load_dataset(spec: dict | pd.DataFrame) -> _MockDataset:
    if isinstance(spec, pd.DataFrame):
        return _MockDataset(spec, None)
    if not isinstance(spec, dict) or "database" not in spec:
        raise ValueError(f"A mocked dataset is a dict with a 'database' key, got {spec!r}")
    db = spec["database"]
    if isinstance(db, pd.DataFrame):
        frame = db
        steps = spec.get("preprocessing")
        if steps:
            from vantage6_algorithm.data import preprocess

            frame = preprocess(frame, steps)
    else:
        frame = load_data(
            db,
            spec.get("db_type") or spec.get("type") or "csv",
            query=spec.get("query"),
            sheet_name=spec.get("sheet_name"),
            preprocessing=spec.get("preprocessing"),
        )
    return _MockDataset(frame, spec.get("label"))


class MockAlgorithmClient:
    """In-process stand-in for the algorithm client.

    Parameters
    ----------
    datasets:
        One list per organization of dataset descriptions ``{"database": DataFrame or path,
        "db_type": "csv"|"parquet"|"excel"|"sql", "query", "sheet_name", "preprocessing",
        "label"}`` (a bare DataFrame is accepted as well).
    module:
        Name of the algorithm package whose functions tasks call.
    collaboration_id:
        Mocked collaboration id.
    organization_ids, node_ids:
        Ids of the organizations (and their nodes), one per entry in ``datasets``; default
        ``0 .. n-1`` like vantage6's mock. This client acts as the first organization.
    raise_errors:
        If true (default) an exception in a task's function propagates to the caller; if false
        the run is recorded as ``failed`` (with the traceback as its log) and, as on a real
        server, has no result.
    """

    def __init__(
        self,
        datasets: list[list[dict]],
        module: str,
        collaboration_id: int = 1,
        organization_ids: list[int] | None = None,
        node_ids: list[int] | None = None,
        *,
        raise_errors: bool = True,
    ) -> None:
        n = len(datasets)
        if n == 0:
            raise ValueError("At least one organization's datasets are needed")
        org_ids = list(organization_ids) if organization_ids is not None else list(range(n))
        n_ids = list(node_ids) if node_ids is not None else list(org_ids)
        if len(org_ids) != n or len(set(org_ids)) != n:
            raise ValueError(f"Need {n} distinct organization ids, got {organization_ids}")
        if len(n_ids) != n or len(set(n_ids)) != n:
            raise ValueError(f"Need {n} distinct node ids, got {node_ids}")
        loaded = {
            org: [_load_dataset(spec) for spec in org_sets]
            for org, org_sets in zip(org_ids, datasets, strict=True)
        }
        state = _MockState(
            module=module,
            collaboration_id=collaboration_id,
            organization_ids=org_ids,
            node_ids=n_ids,
            datasets=loaded,
            raise_errors=raise_errors,
        )
        self._init_view(state, org_ids[0], task_id=None)

    def _init_view(self, state: _MockState, organization_id: int, task_id: int | None) -> None:
        self._state = state
        self.module_name = state.module
        self.collaboration_id = state.collaboration_id
        self.organization_id = organization_id
        self.node_id = state.node_of(organization_id)
        self.task_id = task_id
        self.study_id = None
        self.store_id = None
        self.image = "mock-image"
        self.token = "mock-token"
        self.host = "mock://node-proxy"
        self.port = None
        self.path = ""
        self.base_path = self.host
        self.databases: list[dict] = []
        self.task = self.Task(self)
        self.result = self.Result(self)
        self.run = self.Run(self)
        self.organization = self.Organization(self)
        self.collaboration = self.Collaboration(self)
        self.node = self.Node(self)

    def _view(self, organization_id: int, task_id: int, databases: list) -> MockAlgorithmClient:
        """The client a function sees when it runs for ``organization_id`` in ``task_id``."""
        view = object.__new__(MockAlgorithmClient)
        view._init_view(self._state, organization_id, task_id)
        view.databases = list(databases)
        return view

    # the datasets per organization, as vantage6's mock exposes them
    @property
    def datasets_per_org(self) -> dict[int, list[pd.DataFrame]]:
        return {org: [d.frame for d in sets] for org, sets in self._state.datasets.items()}

    @property
    def all_organization_ids(self) -> list[int]:
        return list(self._state.organization_ids)

    @property
    def all_node_ids(self) -> list[int]:
        return list(self._state.node_ids)

    @property
    def tasks(self) -> list[dict]:
        return self._state.tasks

    @property
    def runs(self) -> list[dict]:
        return self._state.runs

    def wait_for_task_completion(
        self, task_id: int, interval: float = 1, timeout: float | None = None
    ) -> str:
        return self.task.get(task_id)["status"]

    def wait_for_results(
        self, task_id: int, interval: float = 1, timeout: float | None = None
    ) -> list:
        """Tasks run synchronously, so the results are there already."""
        return self.result.from_task(task_id)

    # ------------------------------------------------------------------------------------
    class SubClient:
        def __init__(self, parent: MockAlgorithmClient) -> None:
            self.parent = parent

        @property
        def state(self) -> _MockState:
            return self.parent._state

    class Task(SubClient):
        def create(
            self,
            input_: dict,
            organizations: list[int] | None = None,
            name: str = "mock",
            description: str = "mock",
            databases: list[dict] | None = None,
        ) -> dict:
            """Run ``input_['method']`` for each organization now and return the task."""
            state = self.state
            if not organizations:
                raise ValueError("A task needs at least one organization")
            unknown = [o for o in organizations if o not in state.organization_ids]
            if unknown:
                raise ValueError(f"Unknown organization id(s) {unknown}")
            # the input crosses the wire as base64 of JSON: round-trip it the same way
            wire_input = encode_payload(input_)
            decoded = decode_payload(wire_input)
            if not isinstance(decoded, dict) or not isinstance(decoded.get("method"), str):
                raise ValueError("The task input needs a 'method'")
            if databases is None:
                databases = self.parent.databases
            module = importlib.import_module(state.module)
            method_name = decoded["method"]
            if method_name.startswith("_") or not callable(getattr(module, method_name, None)):
                raise AttributeError(f"Algorithm {state.module!r} has no function {method_name!r}")
            method = getattr(module, method_name)

            task_id = len(state.tasks) + 1
            task = {
                "id": task_id,
                "name": name,
                "description": description,
                "image": self.parent.image,
                "status": "active",
                "collaboration": _stub("collaboration", state.collaboration_id),
                "init_org": _stub("organization", self.parent.organization_id),
                "init_user": None,
                "parent": _stub("task", self.parent.task_id),
                "job_id": self._job_id(),
                "databases": list(databases),
                "created_at": _TIMESTAMP,
                "runs": f"/api/run?task_id={task_id}",
                "results": f"/api/result?task_id={task_id}",
            }
            state.tasks.append(task)
            for org_id in organizations:
                self._run_one(task, method, decoded, org_id, databases, wire_input)
            statuses = {r["status"] for r in state.runs if r["task"]["id"] == task_id}
            task["status"] = "completed" if statuses == {"completed"} else "failed"
            return task

        def _job_id(self) -> int:
            parent = self.parent.task_id
            if parent is None:
                return len({t["job_id"] for t in self.state.tasks}) + 1
            return self.get(parent)["job_id"]

        def _select_data(self, org_id: int, databases: list) -> list[pd.DataFrame]:
            sets = self.state.datasets[org_id]
            labels = [d.get("label") for d in databases or [] if isinstance(d, dict)]
            if labels and all(s.label for s in sets):
                chosen = []
                for label in labels:
                    match = [s for s in sets if s.label == label]
                    if not match:
                        raise ValueError(f"Organization {org_id} has no database {label!r}")
                    chosen.append(match[0])
            else:
                chosen = sets
            return [s.frame.copy() for s in chosen]

        def _run_one(self, task, method, decoded, org_id, databases, wire_input) -> None:
            state = self.state
            view = self.parent._view(org_id, task["id"], databases)
            extra: dict[str, Any] = {}
            if getattr(method, "wrapped_in_algorithm_client_decorator", False):
                extra["mock_client"] = view
            if getattr(method, "wrapped_in_data_decorator", False):
                extra["mock_data"] = self._select_data(org_id, databases)
            if getattr(method, "wrapped_in_metadata_decorator", False):
                extra["mock_metadata"] = RunMetaData(
                    task_id=task["id"],
                    node_id=view.node_id,
                    collaboration_id=state.collaboration_id,
                    organization_id=org_id,
                    temporary_directory=state.temporary_directory(),
                    output_file=None,
                    input_file=None,
                    token_file=None,
                )
            run_id = len(state.runs) + 1
            run = {
                "id": run_id,
                "task": _stub("task", task["id"]),
                "organization": _stub("organization", org_id),
                "node": {"id": view.node_id, "name": f"mock-node-{view.node_id}"},
                "input": wire_input,
                "result": None,
                "log": "",
                "status": "active",
                "assigned_at": _TIMESTAMP,
                "started_at": _TIMESTAMP,
                "finished_at": None,
                "blob_storage_used": False,
                "ports": [],
            }
            state.runs.append(run)
            try:
                value = method(*decoded.get("args", []), **decoded.get("kwargs", {}), **extra)
                # through JSON as on the wire: what would not serialize fails here too
                result = encode_payload(loads(dumps(value)))
            except Exception:
                run["status"] = "failed"
                run["log"] = traceback.format_exc()
                run["finished_at"] = _TIMESTAMP
                if state.raise_errors:
                    task["status"] = "failed"
                    raise
                return
            run["result"] = result
            run["status"] = "completed"
            run["finished_at"] = _TIMESTAMP

        def get(self, task_id: int) -> dict:
            for task in self.state.tasks:
                if task["id"] == task_id:
                    return task
            raise KeyError(f"No task with id {task_id}")

    class Result(SubClient):
        def get(self, id_: int) -> Any:
            run = self.parent.run.get(id_)
            return None if run["result"] is None else decode_payload(run["result"])

        def from_task(self, task_id: int) -> list:
            runs = self.parent.run.from_task(task_id)
            return [decode_payload(r["result"]) for r in runs if r["result"] is not None]

    class Run(SubClient):
        def get(self, id_: int) -> dict:
            for run in self.state.runs:
                if run["id"] == id_:
                    return run
            raise KeyError(f"No run with id {id_}")

        def from_task(self, task_id: int) -> list[dict]:
            return [r for r in self.state.runs if r["task"]["id"] == task_id]

    class Organization(SubClient):
        def get(self, id_: int) -> dict:
            if id_ not in self.state.organization_ids:
                raise KeyError(f"No organization with id {id_}")
            return {
                "id": id_,
                "name": f"mock-organization-{id_}",
                "domain": f"org{id_}.example",
                "country": "",
                "public_key": "",
                "collaborations": f"/api/collaboration?organization_id={id_}",
                "nodes": f"/api/node?organization_id={id_}",
            }

        def list(self) -> list[dict]:
            return [self.get(org) for org in self.state.organization_ids]

    class Collaboration(SubClient):
        def get(self) -> dict:
            cid = self.state.collaboration_id
            return {
                "id": cid,
                "name": "mock-collaboration",
                "encrypted": False,
                "organizations": f"/api/organization?collaboration_id={cid}",
                "nodes": f"/api/node?collaboration_id={cid}",
                "tasks": f"/api/task?collaboration_id={cid}",
            }

    class Node(SubClient):
        def get(self, id_: int | None = None) -> dict:
            node_id = self.parent.node_id if id_ is None else id_
            if node_id not in self.state.node_ids:
                raise KeyError(f"No node with id {node_id}")
            org_id = self.state.organization_ids[self.state.node_ids.index(node_id)]
            return {
                "id": node_id,
                "name": f"mock-node-{node_id}",
                "status": "online",
                "organization": _stub("organization", org_id),
                "collaboration": _stub("collaboration", self.state.collaboration_id),
            }
