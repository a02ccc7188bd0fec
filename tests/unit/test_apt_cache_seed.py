"""A new testbed instance's apt cache starts as a copy of the fullest other one."""

from __future__ import annotations

from pathlib import Path

import pytest

from testbed.aptproxy import _seed

pytestmark = pytest.mark.unit


def test_a_new_cache_is_a_copy_of_the_fullest_and_an_existing_one_is_left_alone(tmp_path: Path) -> None:
    caches = tmp_path / "apt-cacher-ng"
    (caches / "1" / "debrep" / "pool").mkdir(parents=True)
    (caches / "1" / "debrep" / "pool" / "nftables.deb").write_bytes(b"x" * 2000)
    (caches / "2" / "debrep").mkdir(parents=True)
    (caches / "2" / "debrep" / "Release").write_bytes(b"y" * 10)

    _seed(caches / "7")
    copied = caches / "7" / "debrep" / "pool" / "nftables.deb"
    assert copied.read_bytes() == b"x" * 2000 and not (caches / "7" / "debrep" / "Release").exists()
    copied.write_bytes(b"changed")  # a copy: the source does not change with it
    assert (caches / "1" / "debrep" / "pool" / "nftables.deb").read_bytes() == b"x" * 2000
    assert sorted(p.name for p in caches.iterdir()) == ["1", "2", "7"]  # no half-made directory left


def test_the_first_cache_on_a_machine_starts_empty(tmp_path: Path) -> None:
    _seed(tmp_path / "apt-cacher-ng" / "1")
    assert list((tmp_path / "apt-cacher-ng" / "1").iterdir()) == []
