"""oslo.concurrency 7.6.1, the reference the ``[oslo]`` tests compare with.

7.6.1 needs Python 3.11 or later, so the test extra installs it only
there and those tests skip on 3.10, saying why.  Under CI on 3.11 or later,
where the extra must have installed it, a missing reference fails the test
instead, so a broken install cannot pass as a row of skips.
"""

from __future__ import annotations

import importlib
import os
import sys
from types import ModuleType

import pytest

if sys.version_info < (3, 11):
    REASON = 'oslo.concurrency 7.6.1 (the reference) needs Python >= 3.11'
else:
    REASON = 'needs oslo.concurrency 7.6.1, the reference (the test extra)'


def import_oslo(name: str = 'oslo_concurrency.lockutils') -> ModuleType:
    """Import *name* from oslo.concurrency, or skip the test saying why."""
    if sys.version_info >= (3, 11) and os.environ.get('CI') == 'true':
        return importlib.import_module(name)
    return pytest.importorskip(name, reason=REASON)
