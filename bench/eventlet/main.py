"""Run the green-thread benchmarks in a monkey-patched interpreter.

``eventlet.monkey_patch()`` comes first, before pytest, oslo or fastlock
are imported, exactly as an eventlet service starts.  Then pytest-benchmark
runs this folder only; the arguments are passed on to pytest (``run.py``
gives the JSON path and the collection options).
"""

import warnings

warnings.filterwarnings('ignore', message=r'\s*Eventlet is deprecated')

import eventlet  # noqa: E402

eventlet.monkey_patch()

import os  # noqa: E402
import sys  # noqa: E402

import pytest  # noqa: E402
import pytest_benchmark.utils  # noqa: E402

# Under monkey_patch, the CalledProcessError raised by a failing ``git
# config remote.origin.url`` (a clone without a remote) is not the class
# pytest-benchmark catches while guessing the project name; let it fall
# back to the directory name as it does without eventlet.
pytest_benchmark.utils.get_project_name.exceptions = (Exception,)

if __name__ == '__main__':
    here = os.path.dirname(os.path.abspath(__file__))
    sys.exit(pytest.main([here, *sys.argv[1:]]))
