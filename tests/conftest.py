"""Shared fixtures: every behaviour runs against the compiled core (``c``)
and the pure-Python twin (``py``); facade tests may add oslo.concurrency
as the reference (``oslo``)."""

from __future__ import annotations

import importlib
import logging
import os
import time

import pytest
from _processes import start_script
from _reference import import_oslo

from fastlock import lockutils as _lockutils

IMPLS = (pytest.param("c", marks=pytest.mark.c_extension), "py")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--no-c-extensions",
        action="store_true",
        help="skip the compiled core (for a deliberate pure-Python run)",
    )


def pytest_collection_modifyitems(
    config: pytest.Config, items: list[pytest.Item]
) -> None:
    if not config.getoption("--no-c-extensions"):
        return
    skip = pytest.mark.skip(reason="--no-c-extensions")
    for item in items:
        if "c_extension" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(params=IMPLS)
def impl_name(request: pytest.FixtureRequest) -> str:
    """``"c"`` or ``"py"``."""
    return str(request.param)


@pytest.fixture
def impl(impl_name: str):
    """The core module itself: ``fastlock._core_c`` or ``fastlock._core_py``.

    Imported directly, so a missing build fails the ``c`` half.
    """
    return importlib.import_module("fastlock._core_" + impl_name)


@pytest.fixture
def lockutils(impl):
    """``fastlock.lockutils`` bound to *impl*, with fresh default
    containers; the previous binding is restored afterwards."""
    previous = _lockutils._use_core(impl)
    try:
        yield _lockutils
    finally:
        _lockutils._use_core(previous)


# fasteners, under oslo, leaves a lock file object to the garbage collector
# when a non-blocking acquire fails: not ours to fail on.
_OSLO = pytest.param(
    "oslo", marks=pytest.mark.filterwarnings("ignore::ResourceWarning"))


@pytest.fixture(params=[_OSLO, *IMPLS])
def any_lockutils(request: pytest.FixtureRequest):
    """The reference ``oslo_concurrency.lockutils`` or fastlock's facade
    bound to one core: for behaviour that must match oslo."""
    if request.param == "oslo":
        yield import_oslo()
        return
    core = importlib.import_module("fastlock._core_" + request.param)
    previous = _lockutils._use_core(core)
    try:
        yield _lockutils
    finally:
        _lockutils._use_core(previous)


@pytest.fixture
def lock_path(tmp_path):
    """A private directory for lock files."""
    path = tmp_path / "locks"
    path.mkdir()
    return str(path)


@pytest.fixture
def debug_log(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    """caplog capturing DEBUG from both fastlock and oslo lockutils."""
    caplog.set_level(logging.DEBUG, logger="fastlock.lockutils")
    caplog.set_level(logging.DEBUG, logger="oslo_concurrency.lockutils")
    return caplog


class SharedCounter:
    """A counter updated by read, yield, write: without mutual exclusion
    the yield loses updates and lets two holders inside at once, and both
    are recorded.  ``state()`` is ``{"count": n, "inside": 0, "max": 1}``
    after n exclusive updates."""

    def __init__(self) -> None:
        self.count = 0
        self.inside = 0
        self.max = 0

    def bump(self, pause=time.sleep) -> None:
        self.inside += 1
        self.max = max(self.max, self.inside)
        value = self.count
        pause(0)  # invite another thread in mid-update
        self.count = value + 1
        self.inside -= 1

    def state(self) -> dict[str, int]:
        return {"count": self.count, "inside": self.inside, "max": self.max}


@pytest.fixture
def shared_counter() -> SharedCounter:
    """A fresh :class:`SharedCounter`."""
    return SharedCounter()


@pytest.fixture
def rss_bytes():
    """A function returning this process's resident set size in bytes
    (Linux: /proc/self/statm)."""
    if not os.path.exists("/proc/self/statm"):
        pytest.skip("needs /proc/self/statm")
    page = os.sysconf("SC_PAGE_SIZE")

    def read():
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * page

    return read


@pytest.fixture
def run_together():
    """A function running Python scripts as processes that start their
    work at once: each prints ``READY``, then waits for a line on stdin.

    ``run([(kind, code, args), ...], timeout)`` runs *code* with *args*
    under core *kind* (``c``, ``py``; anything else leaves the
    environment alone), asserts that every process exits 0 and returns
    their outputs.
    """

    def run(workers, timeout=120):
        procs = []
        try:
            for kind, code, args in workers:
                procs.append(start_script(kind, code, args))
            for proc in procs:
                line = proc.stdout.readline()
                assert line.strip() == "READY", line + proc.stderr.read()
            for proc in procs:
                proc.stdin.write("go\n")
                proc.stdin.flush()
            outputs = []
            for proc in procs:
                out, err = proc.communicate(timeout=timeout)
                assert proc.returncode == 0, err
                outputs.append(out)
            return outputs
        finally:
            for proc in procs:
                if proc.poll() is None:
                    proc.kill()
                proc.communicate(timeout=30)  # also closes its pipes

    return run
