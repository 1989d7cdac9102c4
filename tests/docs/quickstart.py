"""The commands of ``docs/quickstart.md`` that the tests run.

A fenced ``bash`` block directly below an HTML comment ``<!-- quickstart-test -->`` is run as
written; other blocks (cloning, sudo, examples of output) are only shown.
"""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
QUICKSTART = REPO / "docs" / "quickstart.md"
MARKER = "<!-- quickstart-test -->"

_BLOCK = re.compile(re.escape(MARKER) + r"\s*\n```bash\n(.*?)\n```", re.DOTALL)


def quickstart_blocks(text: str | None = None) -> list[str]:
    """The marked ``bash`` blocks, in page order."""
    if text is None:
        text = QUICKSTART.read_text(encoding="utf-8")
    blocks = _BLOCK.findall(text)
    if text.count(MARKER) != len(blocks):
        raise ValueError(f"a {MARKER} marker is not directly followed by a ```bash block")
    return blocks
