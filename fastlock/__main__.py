"""``python -m fastlock [-c command | -m module | script] [args...]``: run a Python
program with ``oslo_concurrency.lockutils`` replaced by fastlock's."""

import sys

from fastlock._patch import _run

_run(sys.argv[1:])
