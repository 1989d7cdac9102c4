"""An algorithm's store metadata on the command line: reading a submission (a JSON/YAML file
and flags) and checking a task's arguments against a function's metadata.

Flags name functions and their parts compactly:

- ``--function NAME[:central|federated]`` (federated when not said),
- ``--argument FUNCTION.ARG:TYPE[=DEFAULT]`` (a default makes the argument optional),
- ``--database FUNCTION.LABEL``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from vantage6_cli.errors import USAGE, CliError
from vantage6_common.algorithm_meta import ARGUMENT_TYPES, FUNCTION_TYPES


# -- submission ------------------------------------------------------------------------------
def read_file(path: Path) -> dict[str, Any]:
    """A submission from a JSON or YAML file (YAML reads JSON too)."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise CliError(f"{path}: cannot be read ({exc.strerror})", USAGE) from None
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise CliError(f"{path}: not valid JSON or YAML ({first})", USAGE) from None
    if not isinstance(data, dict):
        raise CliError(f"{path}: must hold a mapping (name, image, functions, ...)", USAGE)
    functions = data.get("functions", [])
    if not isinstance(functions, list) or not all(isinstance(f, dict) for f in functions):
        raise CliError(f"{path}: 'functions' must be a list of mappings", USAGE)
    return data


def _function(functions: list[dict[str, Any]], name: str, flag: str) -> dict[str, Any]:
    for item in functions:
        if item.get("name") == name:
            return item
    raise CliError(f"{flag}: no function '{name}' (add it with --function {name})", USAGE)


def _split_target(item: str, flag: str, what: str) -> tuple[str, str]:
    function, sep, rest = item.partition(".")
    if not sep or not function or not rest:
        raise CliError(f"{flag} {item!r}: use FUNCTION.{what}", USAGE)
    return function, rest


def parse_function(item: str) -> dict[str, Any]:
    name, _, kind = item.partition(":")
    kind = kind or "federated"
    if not name.strip():
        raise CliError(f"--function {item!r}: use NAME[:central|federated]", USAGE)
    if kind not in FUNCTION_TYPES:
        raise CliError(f"--function {item!r}: the type is central or federated", USAGE)
    return {"name": name.strip(), "type": kind, "databases": [], "arguments": []}


def parse_argument(item: str) -> tuple[str, dict[str, Any]]:
    """``FUNCTION.ARG:TYPE[=DEFAULT]`` as (function name, argument metadata)."""
    function, rest = _split_target(item, "--argument", "ARG:TYPE[=DEFAULT]")
    spec, has_default, raw_default = rest.partition("=")
    name, sep, kind = spec.partition(":")
    if not sep or not name:
        raise CliError(f"--argument {item!r}: use FUNCTION.ARG:TYPE[=DEFAULT]", USAGE)
    if kind not in ARGUMENT_TYPES:
        raise CliError(
            f"--argument {item!r}: unknown type '{kind}' (one of {', '.join(ARGUMENT_TYPES)})",
            USAGE,
        )
    argument: dict[str, Any] = {"name": name, "type": kind}
    if has_default:
        argument["has_default_value"] = True
        argument["default_value"] = convert(kind, raw_default, f"--argument {item!r}")
    return function, argument


def submission(
    base: dict[str, Any],
    fields: dict[str, Any],
    functions: tuple[str, ...],
    arguments: tuple[str, ...],
    databases: tuple[str, ...],
) -> dict[str, Any]:
    """The body of ``POST /algorithm``: the file's content, then the flags on top."""
    body = {**base, **{k: v for k, v in fields.items() if v is not None}}
    known = [dict(f) for f in body.get("functions") or []]
    for item in functions:
        parsed = parse_function(item)
        known = [f for f in known if f.get("name") != parsed["name"]] + [parsed]
    for item in arguments:
        name, argument = parse_argument(item)
        target = _function(known, name, "--argument")
        target["arguments"] = [
            a for a in target.get("arguments") or [] if a.get("name") != argument["name"]
        ] + [argument]
    for item in databases:
        name, label = _split_target(item, "--database", "LABEL")
        target = _function(known, name, "--database")
        target["databases"] = list(target.get("databases") or []) + [{"name": label}]
    if not known:
        raise CliError(
            "an algorithm needs functions: --function NAME[:central|federated] or a --file",
            USAGE,
        )
    body["functions"] = known
    return body


# -- task arguments --------------------------------------------------------------------------
def convert(kind: str, raw: str, where: str) -> Any:
    """The text ``raw`` as a value of argument type ``kind`` (CliError when it is not one).

    Lists are JSON lists or comma-separated; ``json`` is any JSON value."""
    if kind.endswith("_list"):
        item_kind = kind.removesuffix("_list")
        text = raw.strip()
        if text.startswith("["):
            try:
                items = json.loads(text)
            except ValueError:
                raise CliError(f"{where}: not a JSON list", USAGE) from None
            if not isinstance(items, list):
                raise CliError(f"{where}: must be a list", USAGE)
            return [convert(item_kind, _text(i), where) for i in items]
        return [convert(item_kind, part.strip(), where) for part in text.split(",") if part]
    if kind in ("string", "column"):
        return raw
    if kind in ("integer", "organization"):
        try:
            return int(raw.strip())
        except ValueError:
            raise CliError(f"{where}: {raw!r} is not a whole number", USAGE) from None
    if kind == "float":
        try:
            return float(raw.strip())
        except ValueError:
            raise CliError(f"{where}: {raw!r} is not a number", USAGE) from None
    if kind == "boolean":
        lowered = raw.strip().lower()
        if lowered in ("true", "yes", "1"):
            return True
        if lowered in ("false", "no", "0"):
            return False
        raise CliError(f"{where}: {raw!r} is not true or false", USAGE)
    if kind == "json":
        try:
            return json.loads(raw)
        except ValueError:
            raise CliError(f"{where}: {raw!r} is not valid JSON", USAGE) from None
    raise CliError(f"{where}: the store names an unknown type '{kind}'", USAGE)


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def _stored_default(argument: dict[str, Any]) -> Any:
    raw = argument.get("default_value")
    if raw is None:
        return None
    try:
        return convert(argument["type"], str(raw), argument["name"])
    except CliError:
        return raw


def _condition_holds(argument: dict[str, Any], by_id: dict[Any, dict], values: dict) -> bool:
    """Whether a conditional argument applies (its condition on another argument holds)."""
    other = by_id.get(argument.get("conditional_on_id"))
    if other is None:
        return True
    value = values.get(other["name"], _stored_default(other))
    try:
        wanted = convert(other["type"], str(argument.get("conditional_value")), other["name"])
    except CliError:
        wanted = argument.get("conditional_value")
    operator = argument.get("conditional_operator")
    try:
        return {
            "==": value == wanted,
            "!=": value != wanted,
            ">": value is not None and value > wanted,
            "<": value is not None and value < wanted,
            ">=": value is not None and value >= wanted,
            "<=": value is not None and value <= wanted,
        }.get(operator, True)
    except TypeError:
        return False


def task_arguments(function: dict[str, Any], items: tuple[str, ...]) -> dict[str, Any]:
    """``--arg NAME=VALUE`` items checked against a function's metadata: known names, values
    of the declared types and allowed values, every required argument given."""
    declared = {
        a["name"]: a for a in function.get("arguments") or [] if not a.get("is_frontend_only")
    }
    values: dict[str, Any] = {}
    for item in items:
        name, sep, raw = item.partition("=")
        if not sep or not name:
            raise CliError(f"--arg {item!r}: use NAME=VALUE", USAGE)
        if name not in declared:
            known = ", ".join(sorted(declared)) or "none"
            raise CliError(
                f"--arg {name}: function '{function['name']}' has no such argument "
                f"(its arguments: {known})",
                USAGE,
            )
        argument = declared[name]
        value = convert(argument["type"], raw, f"--arg {name} ({argument['type']})")
        allowed = [a.get("value") for a in argument.get("allowed_values") or []]
        if allowed:
            given = value if isinstance(value, list) else [value]
            wrong = [v for v in given if v not in allowed]
            if wrong:
                shown = ", ".join(str(a) for a in allowed)
                raise CliError(f"--arg {name}: {wrong[0]!r} is not one of {shown}", USAGE)
        values[name] = value
    by_id = {a.get("id"): a for a in declared.values()}
    missing = [
        name
        for name, argument in declared.items()
        if name not in values
        and not argument.get("has_default_value")
        and _condition_holds(argument, by_id, values)
    ]
    if missing:
        hints = " ".join(f"--arg {n}=..." for n in missing)
        raise CliError(
            f"function '{function['name']}' needs {', '.join(missing)}: pass {hints}", USAGE
        )
    return values
