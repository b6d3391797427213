"""Helpers shared by the isolated eventlet scenarios (imported after
``eventlet.monkey_patch()``)."""

import os

import fastlock


def check_implementation():
    """Fail loudly if the core in use is not the one the runner asked for."""
    expected = os.environ.get("FASTLOCK_EXPECT_IMPLEMENTATION")
    assert expected in (None, fastlock.IMPLEMENTATION), (
        "expected core %r, got %r" % (expected, fastlock.IMPLEMENTATION))
