"""vosbench.atomic: all or nothing, with the permissions a plain open would give."""

from __future__ import annotations

import os
import stat

import pytest

from vosbench.atomic import atomic_dir, atomic_file


def _mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_file_appears_whole_with_umask_permissions(tmp_path):
    target = tmp_path / "sub" / "table.csv"
    umask = os.umask(0o022)
    try:
        with atomic_file(target) as tmp:
            tmp.write_text("a,b\n")
            assert not target.exists()
    finally:
        os.umask(umask)
    assert target.read_text() == "a,b\n"
    assert _mode(target) == 0o644
    assert [p.name for p in target.parent.iterdir()] == ["table.csv"]


def test_file_kept_when_the_writer_fails(tmp_path):
    target = tmp_path / "table.csv"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_file(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("writer failed")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["table.csv"]


def test_dir_replaces_only_when_complete(tmp_path):
    target = tmp_path / "part"
    with atomic_dir(target) as tmp:
        (tmp / "a").write_text("1")
    assert _mode(target) == 0o777 & ~_current_umask()
    with pytest.raises(RuntimeError):
        with atomic_dir(target) as tmp:
            (tmp / "b").write_text("2")
            raise RuntimeError("stop")
    assert sorted(p.name for p in target.iterdir()) == ["a"]
    with atomic_dir(target) as tmp:
        (tmp / "c").write_text("3")
    assert sorted(p.name for p in target.iterdir()) == ["c"]
    assert [p.name for p in tmp_path.iterdir()] == ["part"]


def _current_umask() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return umask
