"""JSON helpers for task inputs and results.

Importable with the standard library alone (it runs inside algorithm containers): numpy and
pandas objects are recognised only when those packages are already imported.

Conversion rules of :func:`to_jsonable` (what an algorithm result becomes on the wire):

- ``float`` NaN / +-inf, ``pandas.NA``, ``NaT`` -> ``null`` (strict JSON has no NaN)
- numpy scalars -> the matching Python scalar; arrays -> nested lists
- ``pandas.DataFrame`` -> ``{"columns": [...], "index": [...], "data": [[...], ...]}``
  (pandas' "split" layout; rebuild with ``pandas.DataFrame(**value)``)
- ``pandas.Series`` -> ``{index label: value}``; ``pandas.Index`` -> list
- tuples, sets -> lists; dataclasses -> dicts; enums -> their value
- dates and times -> ISO 8601 text; ``Decimal`` -> float; ``UUID``/paths -> text
- dict keys that are not str/int/float/bool/None are converted to text
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import datetime as _dt
import decimal
import enum
import json
import math
import sys
import uuid
from pathlib import PurePath
from typing import Any

__all__ = [
    "to_jsonable",
    "dumps",
    "dumps_bytes",
    "loads",
    "bytes_to_b64",
    "b64_to_bytes",
    "encode_payload",
    "decode_payload",
]


def _convert_float(value: float) -> float | None:
    return value if math.isfinite(value) else None


def _convert_key(key: Any) -> Any:
    if key is None or isinstance(key, (str, bool, int)):
        return key
    if isinstance(key, float):
        return _convert_float(key) if math.isfinite(key) else str(key)
    converted = to_jsonable(key)
    if converted is None or isinstance(converted, (str, bool, int, float)):
        return converted
    return str(key)


def _numpy_or_pandas(value: Any) -> tuple[bool, Any]:
    """Convert numpy/pandas objects; (False, None) when ``value`` is neither."""
    np = sys.modules.get("numpy")
    pd = sys.modules.get("pandas")
    if pd is not None:
        if isinstance(value, pd.DataFrame):
            return True, {
                "columns": [_convert_key(c) for c in value.columns],
                "index": [to_jsonable(i) for i in value.index],
                "data": [[to_jsonable(v) for v in row] for row in value.itertuples(index=False)],
            }
        if isinstance(value, pd.Series):
            return True, {_convert_key(k): to_jsonable(v) for k, v in value.items()}
        if isinstance(value, pd.Index):
            return True, [to_jsonable(v) for v in value]
        if value is pd.NaT or value is getattr(pd, "NA", object()):
            return True, None
        if isinstance(value, pd.Timestamp):
            return True, value.isoformat()
        if isinstance(value, pd.Timedelta):
            return True, value.isoformat()
        if isinstance(value, pd.Categorical):
            return True, [to_jsonable(v) for v in value]
        if isinstance(value, pd.Interval):
            return True, str(value)
    if np is not None:
        if isinstance(value, np.ndarray):
            return True, [to_jsonable(v) for v in value.tolist()]
        if isinstance(value, np.datetime64):
            return True, None if np.isnat(value) else str(value)
        if isinstance(value, np.timedelta64):
            return True, None if np.isnat(value) else str(value)
        if isinstance(value, np.generic):
            return True, to_jsonable(value.item())
    return False, None


def to_jsonable(value: Any) -> Any:
    """Return a structure of dict/list/str/int/float/bool/None that represents ``value``.

    Raises ``TypeError`` for objects with no sensible JSON form (e.g. ``bytes``, arbitrary
    class instances).
    """
    if value is None or isinstance(value, (str, bool)):
        return value
    if isinstance(value, int) and not isinstance(value, enum.Enum):
        return int(value)
    if isinstance(value, float):
        return _convert_float(float(value))
    handled, converted = _numpy_or_pandas(value)
    if handled:
        return converted
    if isinstance(value, dict):
        return {_convert_key(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, (set, frozenset)):
        items = [to_jsonable(v) for v in value]
        try:
            return sorted(items)
        except TypeError:
            return items
    if isinstance(value, enum.Enum):
        return to_jsonable(value.value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, (_dt.datetime, _dt.date, _dt.time)):
        return value.isoformat()
    if isinstance(value, _dt.timedelta):
        return value.total_seconds()
    if isinstance(value, decimal.Decimal):
        return _convert_float(float(value))
    if isinstance(value, (uuid.UUID, PurePath)):
        return str(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        raise TypeError(
            "bytes are not JSON serializable; encode them (e.g. base64) in the algorithm first"
        )
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def dumps(value: Any, **kwargs: Any) -> str:
    """Strict JSON text of ``value`` after :func:`to_jsonable`."""
    return json.dumps(to_jsonable(value), allow_nan=False, **kwargs)


def dumps_bytes(value: Any) -> bytes:
    """UTF-8 bytes of :func:`dumps`."""
    return dumps(value).encode("utf-8")


def loads(data: str | bytes | bytearray) -> Any:
    """Parse JSON text or UTF-8 bytes."""
    if isinstance(data, (bytes, bytearray)):
        data = bytes(data).decode("utf-8")
    return json.loads(data)


def bytes_to_b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def b64_to_bytes(text: str | bytes) -> bytes:
    if isinstance(text, str):
        text = text.encode("ascii")
    try:
        return base64.b64decode(text, validate=True)
    except binascii.Error as exc:
        raise ValueError("not valid base64") from exc


def encode_payload(value: Any) -> str:
    """Unencrypted wire form of an input or result: base64 of the JSON bytes."""
    return bytes_to_b64(dumps_bytes(value))


def decode_payload(text: str | bytes) -> Any:
    """Inverse of :func:`encode_payload`."""
    return loads(b64_to_bytes(text))
