"""Atomic writes: the file appears whole with an ordinary mode, or the previous version stays untouched."""

from __future__ import annotations

import os
import stat

import pytest

from tunesmith.atomic import write_json, write_jsonl, write_text


def test_written_files_get_the_mode_an_ordinary_open_gives(tmp_path):
    """Not mkstemp's private 0600: a run dir's metrics and datasets must be readable by whoever may read the dir."""
    umask = os.umask(0o022)
    os.umask(umask)
    ordinary = tmp_path / "ordinary.txt"
    ordinary.write_text("x")
    for write, name, obj in ((write_text, "a.txt", "x"), (write_json, "b.json", {"a": 1}), (write_jsonl, "c.jsonl", [{"a": 1}])):
        write(tmp_path / name, obj)
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == stat.S_IMODE(ordinary.stat().st_mode) == 0o666 & ~umask


def test_a_failed_write_leaves_the_old_file_and_no_temp(tmp_path):
    target = tmp_path / "data.jsonl"
    write_jsonl(target, [{"a": 1}])

    def records():
        yield {"a": 2}
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        write_jsonl(target, records())
    assert target.read_text() == '{"a": 1}\n'
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data.jsonl"]
