"""Artifacts appear whole or not at all, with ordinary file permissions."""

import os
import stat

import pytest

from espnet_edge.utils.atomic import atomic_open, write_json


def test_written_file_has_umask_permissions(tmp_path):
    old = os.umask(0o022)
    try:
        write_json(str(tmp_path / "a.json"), {"x": 1})
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(str(tmp_path / "a.json")).st_mode) == 0o644
    assert (tmp_path / "a.json").read_text().strip().startswith("{")


def test_failure_leaves_neither_target_nor_temp(tmp_path):
    target = tmp_path / "b.bin"
    with pytest.raises(RuntimeError):
        with atomic_open(str(target), "wb") as handle:
            handle.write(b"half")
            raise RuntimeError("interrupted")
    assert os.listdir(str(tmp_path)) == []


def test_existing_file_survives_a_failed_rewrite(tmp_path):
    target = tmp_path / "c.json"
    write_json(str(target), {"v": 1})
    with pytest.raises(KeyboardInterrupt):
        with atomic_open(str(target)) as handle:
            handle.write("{")
            raise KeyboardInterrupt
    assert '"v": 1' in target.read_text() and os.listdir(str(tmp_path)) == ["c.json"]
