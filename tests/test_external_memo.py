"""Hostile cases for the caches in front of external locks: the compiled
entry's memo, the facade's ExternalLock cache and the core's descriptor
cache must never hand out a lock of the wrong file."""

from __future__ import annotations

import ast
import os

import pytest
from _counter import CRITICAL, check_counts

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


def test_descriptors_beyond_the_cache_are_closed_at_release(
        impl, lock_path):
    # Locks held at once may keep more files open than the cache keeps
    # (those in use are never closed), but once released the cache is
    # back within its bound: idle descriptors beyond it would starve the
    # process of descriptors (RLIMIT_NOFILE) for good.
    from test_external import _open_names_under

    previous = impl.set_lock_file_cache_size(0)
    try:
        # By keyword too, as the twin takes it (see test_registry).
        assert impl.set_lock_file_cache_size(size=2) == 0
        locks = [impl.FileLock(os.path.join(lock_path, "h%d" % i))
                 for i in range(6)]
        for held in locks:
            held.acquire()
        assert len(_open_names_under(lock_path)) == 6
        for held in locks:
            held.release()
        assert len(_open_names_under(lock_path)) <= 2
        # The same when the cache shrinks while the locks are held.
        for held in locks[:4]:
            held.acquire()
        impl.set_lock_file_cache_size(0)
        assert len(_open_names_under(lock_path)) == 4
        for held in locks[:4]:
            held.release()
        assert _open_names_under(lock_path) == set()
    finally:
        impl.set_lock_file_cache_size(previous)


class _Caseless(str):
    """A str that compares (and hashes) case-insensitively."""

    __slots__ = ()

    def __eq__(self, other):
        return isinstance(other, str) and self.lower() == other.lower()

    def __hash__(self):
        return hash(self.lower())


@pytest.mark.parametrize("first, second", [
    ("foo", _Caseless("Foo")), (_Caseless("Foo"), "foo")])
def test_a_str_subclass_equal_to_another_name_locks_its_own_file(
        any_lockutils, lock_path, first, second):
    # As oslo: the file is named by the string's value, whatever its
    # __eq__ and __hash__ say about other names.
    lu = any_lockutils
    for _ in range(2):  # cached, and found again
        with lu.lock(first, external=True, lock_path=lock_path):
            pass
    os.remove(os.path.join(lock_path, str.__str__(first)))
    with lu.lock(second, external=True, lock_path=lock_path):
        assert os.listdir(lock_path) == [str.__str__(second)]


CYCLING_WORKER = CRITICAL + """
    import os, random, sys, threading, time
    kind, lock_path, state, seconds, seed = sys.argv[1:6]
    from fastlock import lockutils
    import fastlock
    assert fastlock.IMPLEMENTATION == kind, fastlock.IMPLEMENTATION
    # Tiny caches: descriptors, ExternalLocks and memo slots churn.
    lockutils._core.set_lock_file_cache_size(3)
    lockutils._EXTERNAL_LOCKS_MAX = 24
    names = ["n%d" % i for i in range(240)]
    spellings = [lock_path, lock_path + "/", lock_path + "/../locks", None]
    counts, errors = {}, []

    def work(t):
        rnd = random.Random(int(seed) * 10 + t)
        end = time.monotonic() + float(seconds)
        while time.monotonic() < end:
            name, prefix = rnd.choice(names), rnd.choice([None, "p"])
            with lockutils.lock(name, prefix, external=True,
                                lock_path=rnd.choice(spellings)):
                file = prefix + "-" + name if prefix else name
                try:
                    critical(state, file, time.sleep)
                except FileExistsError:  # a second holder inside
                    errors.append(file)
                    continue
                counts[file] = counts.get(file, 0) + 1
            if rnd.random() < 0.05:
                lockutils.remove_external_lock_file(
                    name, prefix, lock_path=lock_path)
            if rnd.random() < 0.02:
                lockutils._core.set_lock_file_cache_size(rnd.randrange(4))

    threads = [threading.Thread(target=work, args=(t,)) for t in range(3)]
    print("READY", flush=True)
    sys.stdin.readline()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    print(repr(counts))
"""


@pytest.mark.parametrize("kinds", [["c", "c", "py"], ["py", "py", "c"]],
                         ids=["c", "py"])
def test_names_cycled_by_threads_and_processes_stay_exclusive(
        run_together, tmp_path, monkeypatch, kinds):
    # Several processes of three threads each lock hundreds of names under
    # several spellings of one lock path (and the configured one), remove
    # lock files and resize the descriptor cache meanwhile; every update
    # of a name's counter must be exclusive (a second holder fails the
    # marker's O_EXCL create, a lost update shows in the count).
    lock_path, state = tmp_path / "locks", tmp_path / "state"
    lock_path.mkdir()
    state.mkdir()
    monkeypatch.setenv("OSLO_LOCK_PATH", str(lock_path))
    outputs = run_together([
        (kind, CYCLING_WORKER, [kind, lock_path, state, 0.8, i])
        for i, kind in enumerate(kinds)])
    total: dict[str, int] = {}
    for out in outputs:
        for file, n in ast.literal_eval(out.strip()).items():
            total[file] = total.get(file, 0) + n
    assert len(total) > 100
    assert {f: (state / (f + ".count")).read_text() for f in total} == {
        f: str(n) for f, n in total.items()}
    check_counts(state, sum(total.values()))
