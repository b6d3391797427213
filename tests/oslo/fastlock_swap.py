"""pytest plugin for ``make test-oslo``: swap fastlock in for
``oslo_concurrency.lockutils`` before oslo's test modules are collected,
and check that the run really used fastlock, with the core asked for."""

from __future__ import annotations

import os
import sys

import fastlock


def pytest_configure(config):
    fastlock.patch_oslo()
    expected = os.environ.get("FASTLOCK_EXPECT_IMPLEMENTATION")
    if expected and fastlock.IMPLEMENTATION != expected:
        raise SystemExit(
            "fastlock core is %r, expected %r" % (fastlock.IMPLEMENTATION, expected)
        )


def pytest_report_header(config):
    return "fastlock swapped in for oslo_concurrency.lockutils, core %r" % (
        fastlock.IMPLEMENTATION,
    )


def pytest_sessionfinish(session, exitstatus):
    # Every module oslo's tests used must have been fastlock's.
    from fastlock import lockutils

    module = sys.modules.get("oslo_concurrency.lockutils")
    if module is not lockutils:
        print("oslo_concurrency.lockutils was %r, not fastlock's" % module)
        session.exitstatus = 1
