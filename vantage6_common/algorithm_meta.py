"""The vocabulary of algorithm metadata in a vantage6 4.x algorithm store, shared by the store
(which validates submissions) and the CLI (which builds them from flags)."""

from __future__ import annotations

#: types an algorithm function's argument may have
ARGUMENT_TYPES = (
    "column",
    "column_list",
    "string",
    "string_list",
    "integer",
    "integer_list",
    "float",
    "float_list",
    "boolean",
    "json",
    "organization",
    "organization_list",
)

#: kinds of algorithm functions
FUNCTION_TYPES = ("central", "federated")
