"""The shared wire vocabulary: related ids and Socket.IO payloads as vantage6 4.x sends them."""

from __future__ import annotations

import json

import pytest

from vantage6_common.events import NAMESPACE, Event, StatusChange, status_change
from vantage6_common.related import related_id, related_ids


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ({"id": 5, "link": "/api/organization/5", "methods": ["GET"]}, 5),
        (5, 5),
        ("5", 5),
        ({"id": "7"}, 7),
        (None, None),
        ({"link": "/api/organization/5"}, None),
        (True, None),
        ("five", None),
        ("٣", None),  # a decimal digit, but not one a server sends
        (5.0, None),
        ([5], None),
    ],
)
def test_related_id(value, expected):
    assert related_id(value) == expected


def test_related_ids_names_the_first_bad_value():
    assert related_ids([{"id": 1}, 2, "3"]) == [1, 2, 3]
    with pytest.raises(ValueError, match="'x'"):
        related_ids([1, "x", None])


def test_status_change_has_the_4x_keys_and_encodes_its_name_as_text():
    payload = status_change(
        status="completed",
        run_id=3,
        task_id=2,
        job_id=2,
        parent_id=None,
        collaboration_id=1,
        node_id=4,
        organization_id=5,
    )
    assert set(payload) == set(StatusChange.__annotations__)
    # python-socketio sends [name, data] as JSON: the enum must encode as its 4.x text
    assert json.dumps([Event.ALGORITHM_STATUS_CHANGE, payload]).startswith(
        '["algorithm_status_change", {"status": "completed"'
    )
    assert Event.NODE_ONLINE == "node-online" and NAMESPACE == "/tasks"
