"""A dependency-free algorithm package: fast wrapper tests (no pandas import)."""

import json  # noqa: F401 - a module attribute the wrapper must refuse to "call"

SECRET = "not callable"


def echo(*args, **kwargs):
    return {"args": list(args), "kwargs": kwargs}


def _secret():
    return "private"


def fails(message="boom"):
    raise ValueError(message)


def not_serializable():
    return object()


def exits_early():
    raise SystemExit(3)
