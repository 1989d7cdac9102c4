"""The id of a node installation: written once by the node, read (never written) by the CLI."""

from __future__ import annotations

import stat

import pytest

from vantage6_node.installation import (
    LABEL_INSTANCE,
    instance_file,
    instance_labels,
    read_instance_id,
)
from vantage6_node.node import instance_id


def test_the_node_writes_the_id_once_and_the_cli_reads_it(tmp_path):
    assert read_instance_id(tmp_path) is None
    first = instance_id(tmp_path)
    assert instance_id(tmp_path) == first
    assert read_instance_id(tmp_path) == first
    assert stat.S_IMODE(instance_file(tmp_path).stat().st_mode) == 0o600
    assert instance_labels(first) == {LABEL_INSTANCE: first}


@pytest.mark.parametrize("content", ["", "not json", "[1, 2]", '{"other": 1}', "null"])
def test_a_damaged_id_file_reads_as_none_and_the_node_replaces_it(tmp_path, content):
    instance_file(tmp_path).write_text(content)
    assert read_instance_id(tmp_path) is None
    fresh = instance_id(tmp_path)
    assert read_instance_id(tmp_path) == fresh


def test_reading_a_missing_task_folder_writes_nothing(tmp_path):
    missing = tmp_path / "never-started"
    assert read_instance_id(missing) is None
    assert not missing.exists()
