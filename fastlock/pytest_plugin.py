"""pytest plugin (registered through the ``pytest11`` entry point).

Fixture ``fastlock_lock_path``: a private, empty directory set as the
``[oslo_concurrency] lock_path`` option (with or without oslo.config) and
as ``OSLO_LOCK_PATH`` (for child processes) for the duration of one test;
both are restored afterwards.  Works for oslo's lockutils too, which reads
the same option.

Option ``--fastlock-lock-order=warn|raise``: lock-order checking for the
whole run (see :func:`fastlock.lockutils.set_lock_order_checking`), on
before any test module is collected.

Loading the plugin imports :mod:`fastlock`, so ``FASTLOCK_PATCH_OSLO=1``
swaps fastlock in for ``oslo_concurrency.lockutils`` before any test
module is collected.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

import fastlock  # noqa: F401  (honours FASTLOCK_PATCH_OSLO)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.getgroup('fastlock').addoption(
        '--fastlock-lock-order',
        choices=('warn', 'raise'),
        default=None,
        help='check the order in which named locks are taken: warn '
        '(LockOrderWarning) or raise (LockOrderError) on a possible '
        'deadlock',
    )


def pytest_configure(config: pytest.Config) -> None:
    mode = config.getoption('--fastlock-lock-order')
    if mode is not None:
        from fastlock import _lockorder

        _lockorder.set_lock_order_checking(mode)


def _current_override(conf: Any, name: str, group: str) -> Any:
    try:
        return conf._get_opt_info(name, group).get('override')  # oslo.config
    except AttributeError:
        return conf._overrides.get(name)  # the stand-in


@pytest.fixture
def fastlock_lock_path(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    """A private lock_path for external locks, for one test."""
    from fastlock import _config

    path = str(tmp_path_factory.mktemp('fastlock-locks'))
    conf, group = _config.CONF, _config.GROUP
    previous = _current_override(conf, 'lock_path', group)
    conf.set_override('lock_path', path, group=group)
    monkeypatch.setenv('OSLO_LOCK_PATH', path)
    try:
        yield path
    finally:
        if previous is None:
            conf.clear_override('lock_path', group=group)
        else:
            conf.set_override('lock_path', previous, group=group)
