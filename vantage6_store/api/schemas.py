"""Request bodies of the store, checked before anything is stored."""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, model_validator

from vantage6_common.algorithm_meta import ARGUMENT_TYPES, FUNCTION_TYPES

ArgumentType = Literal[ARGUMENT_TYPES]  # type: ignore[valid-type]
FunctionType = Literal[FUNCTION_TYPES]  # type: ignore[valid-type]
Scalar = str | int | float | bool

Name = Field(min_length=1, max_length=256)
Text = Field(None, max_length=100_000)
Url = Field(min_length=1, max_length=2048)


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DatabaseIn(Body):
    name: str = Name
    description: str | None = Text


def value_fits(type_: str, value: Any) -> bool:
    """Whether ``value`` has the shape an argument of ``type_`` takes."""
    scalar_checks = {
        "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
        "organization": lambda v: isinstance(v, int) and not isinstance(v, bool),
        "float": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
        "boolean": lambda v: isinstance(v, bool),
        "string": lambda v: isinstance(v, str),
        "column": lambda v: isinstance(v, str),
    }
    if type_ == "json":
        return True
    if type_.endswith("_list"):
        check = scalar_checks[type_.removesuffix("_list")]
        return isinstance(value, list) and all(check(v) for v in value)
    return scalar_checks[type_](value)


class ArgumentIn(Body):
    name: str = Name
    display_name: str | None = Field(None, max_length=256)
    description: str | None = Text
    type: ArgumentType
    allowed_values: list[Scalar] | None = None
    has_default_value: StrictBool = False
    default_value: Any = None
    conditional_on: str | None = Field(None, max_length=256)
    conditional_operator: Literal["==", "!=", ">", "<", ">=", "<="] | None = None
    conditional_value: Scalar | None = None
    is_frontend_only: StrictBool = False

    @model_validator(mode="after")
    def _consistent(self) -> ArgumentIn:
        if self.has_default_value and self.default_value is not None:
            if not value_fits(self.type, self.default_value):
                raise ValueError(f"default_value does not fit type '{self.type}'")
            if self.allowed_values and self.default_value not in self.allowed_values:
                raise ValueError("default_value is not one of the allowed_values")
        if self.allowed_values and not self.type.endswith("_list"):
            wrong = [v for v in self.allowed_values if not value_fits(self.type, v)]
            if wrong and self.type != "json":
                raise ValueError(f"allowed_values {wrong} do not fit type '{self.type}'")
        conditional = (self.conditional_on, self.conditional_operator, self.conditional_value)
        if any(c is not None for c in conditional) and any(c is None for c in conditional):
            raise ValueError(
                "conditional_on, conditional_operator and conditional_value go together"
            )
        return self

    def stored_default(self) -> str | None:
        """Text kept in the database (vantage6's store keeps default values as text)."""
        value = self.default_value
        if value is None:
            return None
        return value if isinstance(value, str) else json.dumps(value)


class VisualizationIn(Body):
    name: str = Name
    description: str | None = Text
    type: Literal["table", "line"]
    schema_: dict[str, Any] | None = Field(None, alias="schema")


class FunctionIn(Body):
    name: str = Name
    display_name: str | None = Field(None, max_length=256)
    description: str | None = Text
    type: FunctionType
    standalone: StrictBool = True
    databases: list[DatabaseIn] = Field(default_factory=list, max_length=100)
    arguments: list[ArgumentIn] = Field(default_factory=list, max_length=500)
    ui_visualizations: list[VisualizationIn] = Field(default_factory=list, max_length=100)

    @model_validator(mode="after")
    def _arguments_refer_to_each_other(self) -> FunctionIn:
        names = [a.name for a in self.arguments]
        if len(set(names)) != len(names):
            raise ValueError("All arguments of a function must have a unique name")
        for arg in self.arguments:
            if arg.conditional_on is not None and (
                arg.conditional_on not in names or arg.conditional_on == arg.name
            ):
                raise ValueError(
                    f"argument '{arg.name}' is conditional on '{arg.conditional_on}', "
                    "which is not another argument of this function"
                )
        return self


class AlgorithmIn(Body):
    name: str = Name
    description: str | None = Text
    image: str = Field(min_length=1, max_length=1024, pattern=r"^\S+$")
    partitioning: Literal["horizontal", "vertical"]
    vantage6_version: str = Field(min_length=1, max_length=64)
    code_url: str = Url
    documentation_url: str | None = Field(None, max_length=2048)
    submission_comments: str | None = Text
    functions: list[FunctionIn] = Field(max_length=200)

    @model_validator(mode="after")
    def _unique_functions(self) -> AlgorithmIn:
        names = [f.name for f in self.functions]
        if len(set(names)) != len(names):
            raise ValueError("All functions of an algorithm must have a unique name")
        return self


class AlgorithmPatch(Body):
    name: str | None = Field(None, min_length=1, max_length=256)
    description: str | None = Text
    image: str | None = Field(None, min_length=1, max_length=1024, pattern=r"^\S+$")
    partitioning: Literal["horizontal", "vertical"] | None = None
    vantage6_version: str | None = Field(None, min_length=1, max_length=64)
    code_url: str | None = Field(None, min_length=1, max_length=2048)
    documentation_url: str | None = Field(None, max_length=2048)
    submission_comments: str | None = Text
    functions: list[FunctionIn] | None = Field(None, max_length=200)
    refresh_digest: StrictBool | None = None


class ReviewIn(Body):
    algorithm_id: int = Field(ge=1, le=2**31 - 1)
    reviewer_id: int = Field(ge=1, le=2**31 - 1)


class ReviewDecision(Body):
    comment: str | None = Text


class UserIn(Body):
    username: str = Field(min_length=1, max_length=128)
    roles: list[int] = Field(default_factory=list, max_length=100)


class UserPatch(Body):
    roles: list[int] | None = Field(None, max_length=100)
    email: str | None = Field(None, max_length=256)
    update_email: StrictBool | None = None
    organization_id: int | None = Field(None, ge=1, le=2**31 - 1)


class RoleIn(Body):
    name: str = Field(min_length=1, max_length=128)
    description: str | None = Text
    rules: list[int] = Field(default_factory=list, max_length=200)


class RolePatch(Body):
    name: str | None = Field(None, min_length=1, max_length=128)
    description: str | None = Text
    rules: list[int] | None = Field(None, max_length=200)


class ServerIn(Body):
    url: str = Field(min_length=1, max_length=2048, pattern=r"^https?://\S+$")
    force: StrictBool = False
