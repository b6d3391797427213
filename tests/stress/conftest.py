"""Stress and fault suite: quick by default (CI), longer with
``FASTLOCK_STRESS_SECONDS`` (``make stress``).  Tests report figures through
the ``report`` fixture; they are printed at the end of the run."""

from __future__ import annotations

import os

import pytest

SECONDS = float(os.environ.get("FASTLOCK_STRESS_SECONDS", "1"))
SCALE = max(1, int(os.environ.get("FASTLOCK_STRESS_SCALE", "1")))
_FIGURES: list[tuple[str, dict]] = []


@pytest.fixture
def stress_seconds() -> float:
    """How long each load test hammers."""
    return SECONDS


@pytest.fixture
def stress_scale() -> int:
    """Multiplier for iteration counts (1 in CI, 10 with make stress)."""
    return SCALE


@pytest.fixture
def report(request: pytest.FixtureRequest):
    """Record figures for the end-of-run stress report."""

    def add(**figures):
        _FIGURES.append((request.node.nodeid.split("::", 1)[-1], figures))

    return add


def pytest_terminal_summary(terminalreporter) -> None:
    if not _FIGURES:
        return
    terminalreporter.section("fastlock stress figures")
    for test, figures in _FIGURES:
        shown = ", ".join("%s=%s" % item for item in figures.items())
        terminalreporter.write_line("%s: %s" % (test, shown))
