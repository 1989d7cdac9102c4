"""JSON conversion of algorithm results (numpy, pandas, stdlib types)."""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import decimal
import enum
import json
import uuid
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from vantage6_common.serialization import (
    b64_to_bytes,
    bytes_to_b64,
    decode_payload,
    dumps,
    encode_payload,
    loads,
    to_jsonable,
)


class Color(enum.Enum):
    RED = "red"


@dataclasses.dataclass
class Point:
    x: float
    y: np.int32


def test_plain_values_pass_through():
    value = {"a": [1, 2.5, "x", None, True], "b": {"c": []}}
    assert to_jsonable(value) == value
    assert loads(dumps(value)) == value


def test_non_finite_floats_become_null():
    assert to_jsonable([float("nan"), float("inf"), -float("inf"), np.float64("nan")]) == [
        None,
        None,
        None,
        None,
    ]
    assert "NaN" not in dumps({"x": np.nan})


def test_numpy_values():
    assert to_jsonable(np.int64(7)) == 7 and type(to_jsonable(np.int64(7))) is int
    assert to_jsonable(np.float32(0.5)) == 0.5
    assert to_jsonable(np.bool_(False)) is False
    assert to_jsonable(np.array([[1, 2], [3, 4]])) == [[1, 2], [3, 4]]
    assert to_jsonable(np.array([1.0, np.nan])) == [1.0, None]
    assert to_jsonable(np.datetime64("2024-01-02")) == "2024-01-02"
    assert to_jsonable(np.datetime64("NaT")) is None
    assert to_jsonable({np.int64(1): "a"}) == {1: "a"}


def test_pandas_values():
    frame = pd.DataFrame({"a": [1, 2], "b": [np.nan, 0.5]}, index=pd.Index([10, 20]))
    converted = to_jsonable(frame)
    assert converted == {"columns": ["a", "b"], "index": [10, 20], "data": [[1, None], [2, 0.5]]}
    rebuilt = pd.DataFrame(**json.loads(dumps(frame)))
    pd.testing.assert_frame_equal(rebuilt, frame.astype({"a": "int64"}), check_dtype=False)
    assert to_jsonable(frame["a"]) == {10: 1, 20: 2}
    assert to_jsonable(pd.Series([1.5], index=["m"])) == {"m": 1.5}
    assert to_jsonable(pd.Index(["x", "y"])) == ["x", "y"]
    assert to_jsonable(pd.Timestamp("2024-03-04T05:06:07")) == "2024-03-04T05:06:07"
    assert to_jsonable(pd.NaT) is None
    assert to_jsonable(pd.NA) is None
    assert to_jsonable(pd.Categorical(["u", "v"])) == ["u", "v"]
    assert to_jsonable(pd.Series([1, None], dtype="Int64")) == {0: 1, 1: None}
    # a describe() table keeps its row labels
    described = to_jsonable(pd.DataFrame({"v": [1.0, 3.0]}).describe())
    assert described["index"][:3] == ["count", "mean", "std"]


def test_stdlib_values():
    value = {
        "t": (1, 2),
        "s": {3, 1},
        "e": Color.RED,
        "p": Point(1.0, np.int32(2)),
        "d": dt.date(2024, 1, 2),
        "dt": dt.datetime(2024, 1, 2, 3, 4, 5),
        "td": dt.timedelta(minutes=1),
        "dec": decimal.Decimal("1.25"),
        "u": uuid.UUID(int=1),
        "path": Path("/a/b"),
        (1, 2): "tuple key",
    }
    assert to_jsonable(value) == {
        "t": [1, 2],
        "s": [1, 3],
        "e": "red",
        "p": {"x": 1.0, "y": 2},
        "d": "2024-01-02",
        "dt": "2024-01-02T03:04:05",
        "td": 60.0,
        "dec": 1.25,
        "u": "00000000-0000-0000-0000-000000000001",
        "path": "/a/b",
        "(1, 2)": "tuple key",
    }


@pytest.mark.parametrize("bad", [b"raw", object(), {"k": bytearray(b"x")}])
def test_unserializable_values_raise(bad):
    with pytest.raises(TypeError):
        dumps(bad)


def test_payload_wire_form():
    value = {"method": "m", "kwargs": {"x": np.float64(2.5)}}
    text = encode_payload(value)
    assert json.loads(base64.b64decode(text)) == {"method": "m", "kwargs": {"x": 2.5}}
    assert decode_payload(text) == {"method": "m", "kwargs": {"x": 2.5}}
    assert decode_payload(text.encode()) == decode_payload(text)
    assert b64_to_bytes(bytes_to_b64(b"\x00\xff")) == b"\x00\xff"
    with pytest.raises(ValueError):
        b64_to_bytes("not base64!")
    assert loads(b'{"a": 1}') == {"a": 1}
