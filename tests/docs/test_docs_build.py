"""The documentation site builds with ``mkdocs build --strict`` (broken links, missing anchors
and pages left out of the nav fail it), and README.md points only at files that exist."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from tests.docs.quickstart import REPO, quickstart_blocks

README = REPO / "README.md"


def test_site_builds_strict(tmp_path):
    pytest.importorskip("mkdocs", reason="install the docs extra: pip install -e '.[docs]'")
    built = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-q", "-d", str(tmp_path / "site")],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert built.returncode == 0, built.stdout + built.stderr
    assert (tmp_path / "site" / "quickstart.html").is_file()
    assert not (REPO / "site").exists(), "the build wrote into the repository"


def test_readme_links_exist():
    text = README.read_text(encoding="utf-8")
    targets = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text)
    local = [t for t in targets if "://" not in t and not t.startswith("mailto:")]
    assert local, "README.md should point to the documentation"
    missing = [t for t in local if not (REPO / t).exists()]
    assert not missing, f"README.md links to missing files: {missing}"


def test_readme_has_exactly_two_setup_commands():
    commands = re.findall(r"^    (bash \S+.*)$", README.read_text(encoding="utf-8"), re.MULTILINE)
    assert commands == ["bash scripts/sandbox.sh", "bash scripts/test.sh"]


def test_quickstart_starts_with_the_readme_sandbox_command():
    blocks = quickstart_blocks()
    assert len(blocks) >= 5
    assert blocks[0].strip() == "bash scripts/sandbox.sh"
    assert blocks[-1].strip() == "v6 sandbox down --purge"
