"""Task and run status values, as vantage6 4.x sends them."""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum


class RunStatus(StrEnum):
    """Status of one run (one organization's part of a task)."""

    PENDING = "pending"
    INITIALIZING = "initializing"
    ACTIVE = "active"
    COMPLETED = "completed"
    FAILED = "failed"
    START_FAILED = "start failed"
    NO_DOCKER_IMAGE = "non-existing Docker image"
    CRASHED = "crashed"
    KILLED = "killed by user"
    NOT_ALLOWED = "not allowed"
    UNKNOWN_ERROR = "unknown error"

    @property
    def is_finished(self) -> bool:
        return self not in _UNFINISHED

    @property
    def is_failed(self) -> bool:
        return self not in _UNFINISHED and self is not RunStatus.COMPLETED


_UNFINISHED = {RunStatus.PENDING, RunStatus.INITIALIZING, RunStatus.ACTIVE}
UNFINISHED_STATUSES: frozenset[str] = frozenset(s.value for s in _UNFINISHED)
FAILED_STATUSES: frozenset[str] = frozenset(s.value for s in RunStatus if s.is_failed)


def task_status(run_statuses: Iterable[str]) -> str:
    """Derive a task's status from its runs' statuses (vantage6 4.x rules)."""
    statuses = [RunStatus(s) for s in run_statuses]
    failed = {s for s in statuses if s.is_failed}
    if len(failed) == 1:
        return failed.pop().value
    if failed:
        return RunStatus.FAILED.value
    for candidate in (RunStatus.ACTIVE, RunStatus.INITIALIZING, RunStatus.PENDING):
        if candidate in statuses:
            return candidate.value
    return RunStatus.COMPLETED.value
