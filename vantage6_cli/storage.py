"""The blob store questions of ``v6 server new``: which storage backend, and its settings.

Nothing here knows a backend by name. The backends are the ``vantage6.storage`` entry points
(see :mod:`vantage6_server.storage.loader`) and each declares its settings as a pydantic model
(its ``Settings`` class attribute): every field becomes a question and a flag
``--storage-<field>``, so a third-party backend's settings are asked the same way. The flags
are made when ``v6 server new`` parses its arguments, so other commands never import a backend.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import click
from pydantic import SecretStr, TypeAdapter, ValidationError

from vantage6_cli.errors import CONFIG, CliError
from vantage6_cli.wizard import Question

if TYPE_CHECKING:
    from pydantic.fields import FieldInfo

#: the choice that keeps inputs and results in the database
NONE = "none"
#: the backend a new server gets unless told otherwise
DEFAULT = "filesystem"
FLAG_PREFIX = "--storage-"
KEY_PREFIX = "storage_"


def backend_names() -> list[str]:
    """The installed backends (empty when they cannot be listed)."""
    try:
        from vantage6_server.storage.loader import available_backends

        return available_backends()
    except Exception:  # noqa: BLE001 - a broken installation offers none
        return []


def settings_fields(name: str) -> dict[str, FieldInfo]:
    """The settings backend ``name`` declares, in its order; CliError when it cannot load."""
    from vantage6_server.storage.loader import backend_class

    try:
        return dict(backend_class(name).Settings.model_fields)
    except Exception as exc:  # noqa: BLE001 - unknown or broken plugin
        raise CliError(f"--storage {name}: {exc}", CONFIG) from None


def flag_of(field: str) -> str:
    return FLAG_PREFIX + field.replace("_", "-")


def _is_secret(info: FieldInfo) -> bool:
    return "SecretStr" in repr(info.annotation)


def _kind(info: FieldInfo) -> str:
    if _is_secret(info):
        return "secret"
    if info.annotation in (int, int | None):
        return "int"
    return "text"


def _adapter(info: FieldInfo) -> TypeAdapter[Any]:
    if not info.metadata:
        return TypeAdapter(info.annotation)
    return TypeAdapter(Annotated[(info.annotation, *info.metadata)])  # type: ignore[arg-type]


def _problem(info: FieldInfo, value: Any) -> str | None:
    if value in (None, ""):
        return "an answer is required" if info.is_required() else None
    try:
        _adapter(info).validate_python(value)
    except ValidationError as exc:
        return "; ".join(err["msg"] for err in exc.errors())
    return None


def _default(name: str, field: str, info: FieldInfo, data_dir: Path) -> Any:
    if name == "filesystem" and field == "path":
        return str(data_dir / "blobs")  # explicit, so the folder does not depend on the cwd
    if info.is_required():
        return None
    default = info.get_default(call_default_factory=True)
    if isinstance(default, SecretStr):
        return None
    return default


def _plain(value: Any) -> Any:
    """A validated setting as YAML can hold it."""
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    if isinstance(value, Path):
        return str(value)
    return value


def backend_question(names: list[str]) -> Question:
    choices = [*names, NONE]
    return Question(
        "storage",
        "--storage",
        "Where to keep large task inputs and results (none: in the database)",
        kind="select",
        default=DEFAULT if DEFAULT in names else NONE,
        choices=choices,
    )


def settings_questions(name: str, data_dir: Path) -> list[Question]:
    """One question per setting of backend ``name``."""
    questions = []
    for field, info in settings_fields(name).items():
        described = info.description or field.replace("_", " ")
        questions.append(
            Question(
                KEY_PREFIX + field,
                flag_of(field),
                f"{name}: {described}",
                kind=_kind(info),
                default=_default(name, field, info, data_dir),
                required=info.is_required(),
                validate=lambda value, info=info: _problem(info, value),
            )
        )
    return questions


def section(name: str, answers: dict[str, Any]) -> dict[str, Any] | None:
    """The ``large_result_store`` section for the answers (None for ``none``); settings left
    at their default are not written. CliError when the backend refuses the combination."""
    if name == NONE:
        return None
    from vantage6_server.storage.loader import parse_settings

    fields = settings_fields(name)
    values: dict[str, Any] = {}
    for field, info in fields.items():
        value = answers.get(KEY_PREFIX + field)
        if value in (None, ""):
            continue
        value = _plain(_adapter(info).validate_python(value))
        if not info.is_required() and value == info.get_default(call_default_factory=True):
            continue
        values[field] = value
    try:
        parse_settings(name, values)
    except Exception as exc:  # noqa: BLE001 - StorageConfigError with the backend's words
        raise CliError(str(exc), CONFIG) from None
    return {"type": name, **values}


def unknown_flags(name: str, given: dict[str, Any]) -> list[str]:
    """Storage flags that were given but are not settings of backend ``name``."""
    fields = set(settings_fields(name)) if name != NONE else set()
    return sorted(
        flag_of(key.removeprefix(KEY_PREFIX))
        for key, value in given.items()
        if key.startswith(KEY_PREFIX) and value is not None
        if key.removeprefix(KEY_PREFIX) not in fields
    )


def all_flags() -> dict[str, str]:
    """``field -> help`` for the settings of every installed backend (the flags to offer)."""
    flags: dict[str, str] = {}
    for name in backend_names():
        try:
            fields = settings_fields(name)
        except CliError:
            continue
        for field, info in fields.items():
            text = f"[{name}] {info.description or field.replace('_', ' ')}"
            flags[field] = f"{flags[field]}; {text}" if field in flags else text
    return flags


class StorageCommand(click.Command):
    """A command with a ``--storage-<field>`` option per setting of the installed backends,
    made when they are needed (parsing, help, completion) rather than at import."""

    _made: tuple[tuple[str, ...], list[click.Parameter]] | None = None

    def get_params(self, ctx: click.Context) -> list[click.Parameter]:
        names = tuple(backend_names())
        if self._made is None or self._made[0] != names:
            taken = {opt for param in self.params for opt in getattr(param, "opts", [])}
            extra: list[click.Parameter] = [
                click.Option([flag_of(field), KEY_PREFIX + field], default=None, help=text)
                for field, text in all_flags().items()
                if flag_of(field) not in taken
            ]
            self._made = (names, extra)
        base = super().get_params(ctx)
        return [*base[:-1], *self._made[1], base[-1]] if base else self._made[1]
