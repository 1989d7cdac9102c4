"""Entry point of an algorithm container.

The image sets ``PKG_NAME`` (the algorithm's Python package) and runs::

    python3 -c "from vantage6_algorithm.wrap import wrap_algorithm; wrap_algorithm()"

The node mounts the input/output/token files and passes their paths (base32-encoded, like
all its variables) in ``INPUT_FILE``, ``OUTPUT_FILE`` and ``TOKEN_FILE``. The input file holds
``{"method": name, "args": [...], "kwargs": {...}}``; the method's return value is written to
the output file as JSON (see :mod:`vantage6_common.serialization` for numpy/pandas values).
Any failure prints ``error > ...`` on stderr and exits with status 1.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import traceback
from typing import Any

from vantage6_algorithm.util import (
    AlgorithmError,
    decode_environment_in_place,
    error,
    info,
    require_env,
)
from vantage6_common.serialization import dumps_bytes

__all__ = ["wrap_algorithm", "load_input", "run_method", "write_output"]

#: vantage6 3.x wrote a format marker before the payload; 4.x writes plain JSON.
_LEGACY_JSON_MARKER = b"json."
_LEGACY_PICKLE_MARKER = b"pickle."


def load_input(input_file: str | os.PathLike) -> dict[str, Any]:
    """Read and check the task input file."""
    try:
        with open(input_file, "rb") as fp:
            raw = fp.read()
    except OSError as exc:
        raise AlgorithmError(f"Could not read the input file {input_file}: {exc}") from exc
    if raw.startswith(_LEGACY_JSON_MARKER):
        raw = raw[len(_LEGACY_JSON_MARKER) :]
    elif raw.startswith(_LEGACY_PICKLE_MARKER) or raw[:1] == b"\x80":
        raise AlgorithmError(
            "The task input is pickled; only JSON input is accepted (unpickling untrusted "
            "input could run arbitrary code)"
        )
    try:
        payload = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise AlgorithmError(f"The task input is not valid JSON: {exc}") from exc
    if not isinstance(payload, dict):
        raise AlgorithmError("The task input must be a JSON object with a 'method' key")
    method = payload.get("method")
    if not isinstance(method, str) or not method:
        raise AlgorithmError("The task input has no 'method' (name of the function to run)")
    args = payload.get("args")
    kwargs = payload.get("kwargs")
    if args is None:
        args = []
    if kwargs is None:
        kwargs = {}
    if not isinstance(args, list):
        raise AlgorithmError("'args' in the task input must be a list")
    if not isinstance(kwargs, dict):
        raise AlgorithmError("'kwargs' in the task input must be an object")
    return {"method": method, "args": args, "kwargs": kwargs}


def _find_method(module_name: str, method_name: str):
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise AlgorithmError(
            f"Algorithm package {module_name!r} cannot be imported: {exc}"
        ) from exc
    if method_name.startswith("_"):
        raise AlgorithmError(f"Method {method_name!r} is private and cannot be called")
    method = getattr(module, method_name, None)
    if method is None or not callable(method) or isinstance(method, type(module)):
        raise AlgorithmError(f"Algorithm {module_name!r} has no function {method_name!r}")
    return method


def run_method(module_name: str, input_data: dict[str, Any]) -> Any:
    """Import ``module_name`` and call the requested method with the input's arguments."""
    method = _find_method(module_name, input_data["method"])
    info(f"Running {module_name}.{input_data['method']}")
    return method(*input_data.get("args", []), **input_data.get("kwargs", {}))


def write_output(result: Any, output_file: str | os.PathLike) -> None:
    """Serialize ``result`` as JSON and write it to the output file."""
    try:
        payload = dumps_bytes(result)
    except (TypeError, ValueError) as exc:
        raise AlgorithmError(f"The algorithm's result cannot be written as JSON: {exc}") from exc
    try:
        # written in place: the file may be a bind mount that cannot be replaced
        with open(output_file, "wb") as fp:
            fp.write(payload)
    except OSError as exc:
        raise AlgorithmError(f"Could not write the output file {output_file}: {exc}") from exc


def wrap_algorithm(module: str | None = None, log_traceback: bool = True) -> None:
    """Run the method named in the input file and write its result; exit 1 on any error.

    ``module`` defaults to ``PKG_NAME``. ``log_traceback`` prints the Python traceback of an
    algorithm error (turn it off if error details could reveal data: logs reach the user).
    """
    module = module or os.environ.get("PKG_NAME")
    if not module:
        error("PKG_NAME is not set: the algorithm image must name its package in PKG_NAME")
        sys.exit(1)
    info(f"vantage6 algorithm wrapper for {module}")
    decode_environment_in_place()
    method_name = "?"
    try:
        input_data = load_input(require_env("INPUT_FILE"))
        output_file = require_env("OUTPUT_FILE")
        method_name = input_data["method"]
        method = _find_method(module, method_name)
    except AlgorithmError as exc:
        error(str(exc))
        sys.exit(1)

    info(f"Running {module}.{method_name}")
    try:
        result = method(*input_data["args"], **input_data["kwargs"])
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) and exc.code != 0 else 1
        error(f"{method_name} exited (status {exc.code!r}) before returning a result")
        sys.exit(code)
    except BaseException as exc:  # noqa: BLE001 - report anything the algorithm raises
        error(f"{method_name} failed: {type(exc).__name__}: {exc}")
        if log_traceback:
            traceback.print_exc(file=sys.stderr)
        sys.exit(1)

    try:
        write_output(result, output_file)
    except AlgorithmError as exc:
        error(str(exc))
        sys.exit(1)
    info(f"Result written to {output_file}")


if __name__ == "__main__":
    wrap_algorithm()
