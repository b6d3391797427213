"""The Python matrix: the whole test suite on every CPython that
pyproject.toml's classifiers name, each from a wheel built and installed
with that interpreter, run from outside the source tree.

``make matrix`` (and so ``.ci/run``) runs ``nox``; a classified version
with no interpreter on the machine fails the run, so the classifiers
cannot claim more than is tested.  Interpreters are found on PATH or in
pyenv's versions folder (its shims only answer for the selected version).
"""

from __future__ import annotations

import os
import pathlib
import re
import shutil
import subprocess

import nox

ROOT = pathlib.Path(__file__).resolve().parent
CLASSIFIER = re.compile(r'"Programming Language :: Python :: (3\.\d+)"')

nox.options.error_on_missing_interpreters = True
nox.options.sessions = ["tests"]


def _classified_versions() -> list[str]:
    # A regular expression, not tomllib: nox may run on Python 3.10.
    text = (ROOT / "pyproject.toml").read_text()
    return sorted(set(CLASSIFIER.findall(text)), key=lambda v: int(v.split(".")[1]))


def _build_requires() -> list[str]:
    # The build tests (tests/test_build.py) build a copy of the project
    # without isolation, so each session gets [build-system] requires.
    text = (ROOT / "pyproject.toml").read_text()
    block = re.search(r"^\[build-system\][^\[]*?^requires = \[(.*?)\]", text,
                      re.M | re.S)
    assert block, "no [build-system] requires in pyproject.toml"
    return re.findall(r'"([^"]+)"', block.group(1))


def _works(python: str) -> bool:
    try:
        return subprocess.run([python, "-c", ""], capture_output=True,
                              timeout=30).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def _pyenv_bins(version: str) -> list[pathlib.Path]:
    root = pathlib.Path(os.environ.get("PYENV_ROOT", pathlib.Path.home() / ".pyenv"))
    found = []
    for path in (root / "versions").glob(version + ".*"):
        patch = path.name[len(version) + 1:]
        if patch.isdigit() and (path / "bin" / ("python" + version)).exists():
            found.append((int(patch), path / "bin"))
    return [bin_dir for _, bin_dir in sorted(found, reverse=True)]


def _expose(versions: list[str]) -> None:
    """Put a working ``pythonX.Y`` for each version first on PATH, where
    nox looks for the interpreters."""
    prefix = []
    for version in versions:
        name = "python" + version
        on_path = shutil.which(name)
        if on_path and _works(on_path):
            continue
        for bin_dir in _pyenv_bins(version):
            if _works(str(bin_dir / name)):
                prefix.append(str(bin_dir))
                break
    if prefix:
        os.environ["PATH"] = os.pathsep.join(prefix + [os.environ.get("PATH", "")])


PYTHONS = _classified_versions()
_expose(PYTHONS)


@nox.session(python=PYTHONS)
def tests(session: nox.Session) -> None:
    """The whole suite against the installed wheel (both cores)."""
    session.install(f"{ROOT}[test]", *_build_requires())
    session.chdir(session.create_tmp())
    session.run("python", "-c", "import fastlock, sys; "
                "assert fastlock.IMPLEMENTATION == 'c', fastlock.IMPLEMENTATION; "
                "print(sys.version, fastlock.__file__)")
    session.run("python", "-m", "pytest", "-p", "no:cacheprovider",
                str(ROOT / "tests"), *session.posargs)
