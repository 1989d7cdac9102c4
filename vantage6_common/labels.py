"""Database labels: the one pattern the server, the node and its configuration accept.

A label becomes part of environment variable names inside algorithm containers
(``{LABEL}_DATABASE_URI``, ``{LABEL}_QUERY``, ...). Anything beyond ASCII letters, digits and
underscores (``=``, spaces, NUL, ...) could set or overwrite other variables there
(vantage6's CVE-2024-21649), so a label is checked against this pattern wherever it enters.
"""

from __future__ import annotations

import re

#: a letter, then up to 63 letters, digits or underscores
LABEL_PATTERN = r"^[A-Za-z][A-Za-z0-9_]{0,63}$"
_LABEL_RE = re.compile(LABEL_PATTERN)
LABEL_RULE = "must start with a letter and have at most 64 letters, digits or underscores"


def is_valid_label(value: object) -> bool:
    """Whether ``value`` is a string that may be used as a database label."""
    return isinstance(value, str) and _LABEL_RE.fullmatch(value) is not None


def check_label(value: object) -> str:
    """``value`` when it is a valid label, else ``ValueError`` saying why (value shortened)."""
    if not is_valid_label(value):
        shown = repr(value)
        if len(shown) > 80:
            shown = shown[:77] + "..."
        raise ValueError(
            f"{LABEL_RULE} (a database label becomes part of environment variable names), "
            f"got {shown}"
        )
    return value  # type: ignore[return-value]
