"""Questions that are asked in a terminal and can always be answered with a flag instead.

Every :class:`Question` names its flag. A value given on the command line is used (after
validation) and not asked. In a terminal the remaining questions are asked with questionary,
their defaults pre-filled. With ``--no-input`` or without a terminal nothing is asked: defaults
are taken, and questions without a default make the command fail with a message that lists
the flags to pass.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import click

from vantage6_cli.errors import INTERRUPTED, USAGE, CliError


@dataclass
class Question:
    key: str
    flag: str
    prompt: str
    kind: str = "text"  # text, secret, confirm, select, int
    default: Any = None
    required: bool = False  # True: there is no default; the answer must be given
    choices: Sequence[str] = field(default_factory=tuple)
    validate: Callable[[Any], str | None] | None = None
    #: ask only when this returns True for the answers so far
    when: Callable[[dict[str, Any]], bool] | None = None


def is_interactive(no_input: bool) -> bool:
    return not no_input and sys.stdin.isatty() and sys.stdout.isatty()


def no_input_option(func: Any) -> Any:
    return click.option(
        "--no-input",
        is_flag=True,
        help="Never ask questions: use the defaults and fail if an answer is missing.",
    )(func)


def _convert(question: Question, value: Any) -> Any:
    if question.kind == "int" and value is not None and not isinstance(value, int):
        try:
            return int(str(value).strip())
        except ValueError:
            raise ValueError("must be a whole number") from None
    return value


def _check(question: Question, value: Any) -> str | None:
    if question.kind == "select" and question.choices and value not in question.choices:
        return f"must be one of {', '.join(question.choices)}"
    if question.required and (value is None or value == ""):
        return "an answer is required"
    if question.validate is not None:
        return question.validate(value)
    return None


def _ask_one(question: Question) -> Any:
    import questionary

    default = question.default
    if question.kind == "confirm":
        prompt = questionary.confirm(question.prompt, default=bool(default))
    elif question.kind == "select":
        prompt = questionary.select(
            question.prompt, choices=list(question.choices), default=default
        )
    else:

        def validator(text: str) -> bool | str:
            try:
                value = _convert(question, text)
            except ValueError as exc:
                return str(exc)
            problem = _check(question, value)
            return True if problem is None else problem

        # checked on Enter, not on every key (some checks ask a server or a database)
        if question.kind == "secret":
            prompt = questionary.password(
                question.prompt, validate=validator, validate_while_typing=False
            )
        else:
            prompt = questionary.text(
                question.prompt,
                default="" if default is None else str(default),
                validate=validator,
                validate_while_typing=False,
            )
    answer = prompt.ask()
    if answer is None:  # Ctrl-C
        raise CliError("cancelled", INTERRUPTED)
    if question.kind == "secret" and answer == "" and default is not None:
        return default
    return _convert(question, answer)


def answer(questions: Sequence[Question], given: dict[str, Any], no_input: bool) -> dict[str, Any]:
    """Answers to ``questions``: from ``given`` (flag values; None = not given), asked, or
    defaults. Raises CliError(USAGE) naming the flags of missing answers."""
    interactive = is_interactive(no_input)
    answers: dict[str, Any] = {}
    missing: list[str] = []
    for question in questions:
        if question.when is not None and not question.when(answers):
            continue
        value = given.get(question.key)
        if value is not None:
            try:
                value = _convert(question, value)
            except ValueError as exc:
                raise CliError(f"{question.flag}: {exc}", USAGE) from None
            problem = _check(question, value)
            if problem:
                raise CliError(f"{question.flag}: {problem}", USAGE)
            answers[question.key] = value
        elif interactive:
            answers[question.key] = _ask_one(question)
        elif question.required:
            missing.append(question.flag)
        else:
            answers[question.key] = question.default
    if missing:
        raise CliError(
            "missing answers (no terminal to ask them in, or --no-input): pass "
            + ", ".join(missing),
            USAGE,
        )
    return answers


def confirm(prompt: str, yes: bool, no_input: bool, flag: str = "--yes") -> None:
    """Ask to go on (or accept ``--yes``); without a terminal ``--yes`` is required."""
    if yes:
        return
    if not is_interactive(no_input):
        raise CliError(f"not confirmed: pass {flag} to do this without a question", USAGE)
    import questionary

    reply = questionary.confirm(prompt, default=False).ask()
    if not reply:
        raise CliError("cancelled", INTERRUPTED)
