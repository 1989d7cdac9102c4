"""Helpers shared by the demo's central functions."""

from __future__ import annotations

from typing import Any


def target_organizations(client: Any, organizations: list[int] | None) -> list[int]:
    """The organizations to ask: the given ones, or every one in the collaboration."""
    if organizations:
        return [int(org) for org in organizations]
    found = [int(org["id"]) for org in client.organization.list()]
    if not found:
        raise RuntimeError("The collaboration has no organizations to run a subtask on")
    return found


def run_partials(
    client: Any, method: str, kwargs: dict, organizations: list[int], name: str
) -> list[Any]:
    """Run ``method`` on every organization and return all their results.

    Raises if any organization did not return a result: an aggregate over a subset of the
    data would silently be wrong.
    """
    task = client.task.create(
        input_={"method": method, "kwargs": kwargs},
        organizations=organizations,
        name=name,
        description=f"{method} subtask of the v6demo algorithm",
    )
    results = client.wait_for_results(task["id"])
    if len(results) != len(organizations) or any(r is None for r in results):
        raise RuntimeError(
            f"Subtask {task['id']} ({method}): only {len(results)} of {len(organizations)} "
            "organizations returned a result"
        )
    return results
