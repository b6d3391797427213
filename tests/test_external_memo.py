"""Hostile cases for the caches in front of external locks: the compiled
entry's memo, the facade's ExternalLock cache and the core's descriptor
cache must never hand out a lock of the wrong file."""

from __future__ import annotations

import os

import pytest

GROUP = "oslo_concurrency"


@pytest.fixture
def two_dirs(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    return str(a), str(b)


def _files(*dirs):
    return tuple(sorted(os.listdir(d)) for d in dirs)


@pytest.mark.parametrize("explicit_first", [True, False])
def test_a_decorator_keeps_the_lock_path_it_was_given(
        any_lockutils, two_dirs, explicit_first):
    # lock(name, lock_path=P) and lock(name) with P configured name one
    # file, but as decorators the first stays in P and the second follows
    # the configuration, as oslo's re-made context managers do.
    lu = any_lockutils
    a, b = two_dirs
    lu.CONF.set_override("lock_path", a, group=GROUP)
    try:
        first, second = ((a, None) if explicit_first else (None, a))
        with lu.lock("deco", external=True, lock_path=first):
            pass
        decorated = lu.lock("deco", external=True, lock_path=second)(
            lambda: _files(a, b))
        os.remove(os.path.join(a, "deco"))
        lu.CONF.set_override("lock_path", b, group=GROUP)
        expected = ([], ["deco"]) if second is None else (["deco"], [])
        assert decorated() == expected
    finally:
        lu.CONF.clear_override("lock_path", group=GROUP)
