"""``fastlock.fixture.lockutils`` (against oslo's fixtures) and the pytest
plugin fixture ``fastlock_lock_path``."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading

import pytest
from _reference import import_oslo

fixtures = pytest.importorskip("fixtures")

from fastlock import lockutils as fastlock_lockutils  # noqa: E402


@pytest.fixture(params=["oslo", "fastlock"])
def fixture_module(request):
    """oslo's fixture module (the reference) or fastlock's."""
    if request.param == "oslo":
        import_oslo("oslo_concurrency")
        from oslo_concurrency.fixture import lockutils as module
    else:
        from fastlock.fixture import lockutils as module
    return module


def _lockutils_of(fixture_module):
    return fixture_module.lockutils


def test_external_lock_fixture_sets_and_restores_lock_path(fixture_module):
    lu = _lockutils_of(fixture_module)
    before = lu.CONF.oslo_concurrency.lock_path
    fixture = fixture_module.ExternalLockFixture()
    fixture.setUp()
    try:
        path = lu.CONF.oslo_concurrency.lock_path
        assert path != before and os.path.isdir(path)
        assert lu._get_lock_path("n", "p") == os.path.join(path, "p-n")
    finally:
        fixture.cleanUp()
    assert not os.path.exists(path)
    assert lu.CONF.oslo_concurrency.lock_path == before


def _external_or_skip(lu, lock_path):
    try:
        with lu.lock("probe", external=True, lock_path=lock_path):
            pass
    except NotImplementedError:
        pytest.skip("fastlock external locks are not implemented yet")


def test_lock_fixture_holds_until_cleanup(fixture_module, tmp_path):
    lu = _lockutils_of(fixture_module)
    _external_or_skip(lu, str(tmp_path))
    with fixtures.Fixture() as outer:
        outer.useFixture(fixture_module.ExternalLockFixture())
        lock_fixture = fixture_module.LockFixture("fixture-lock", "test-")
        outer.useFixture(lock_fixture)
        assert lock_fixture.lock is not None
        path = lu.CONF.oslo_concurrency.lock_path
        assert os.path.exists(os.path.join(path, "test-fixture-lock"))
        refused = []

        def contender():
            try:
                with lu.lock("fixture-lock", "test-", external=True, blocking=False):
                    refused.append(False)
            except lu.AcquireLockFailedException:
                refused.append(True)

        t = threading.Thread(target=contender)
        t.start()
        t.join(10)
        assert refused == [True]
    # cleaned up: free again
    with lu.lock(
        "fixture-lock", "test-", external=True, lock_path=path, blocking=False
    ):
        pass


def test_lock_fixture_makes_the_lock_at_construction():
    from fastlock.fixture import lockutils as module

    fixture = module.LockFixture("made-early", "pfx")
    assert fixture.mgr is not None and not hasattr(fixture, "lock")


def _run(script, env=None):
    full_env = dict(os.environ)
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script)], env=full_env,
        capture_output=True, text=True, timeout=60,
    )


HIDE = """
import sys
class Hide:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in PREFIXES:
            raise ModuleNotFoundError("No module named %r" % name, name=name)
sys.meta_path.insert(0, Hide())
"""


def test_external_lock_fixture_without_oslo_config():
    proc = _run(
        HIDE.replace("PREFIXES", repr(("oslo_config", "oslo_concurrency")))
        + textwrap.dedent(
            """
            import os
            from fastlock import lockutils, _config
            from fastlock.fixture.lockutils import ExternalLockFixture
            assert _config.cfg is None
            lockutils.CONF.set_override(
                "lock_path", "/before", group="oslo_concurrency"
            )
            f = ExternalLockFixture()
            f.setUp()
            path = lockutils.CONF.oslo_concurrency.lock_path
            assert path != "/before" and os.path.isdir(path)
            f.cleanUp()
            assert lockutils.CONF.oslo_concurrency.lock_path == "/before"
            lockutils.CONF.clear_override("lock_path", group="oslo_concurrency")
            f = ExternalLockFixture()
            f.setUp()
            f.cleanUp()
            assert lockutils.CONF.oslo_concurrency.lock_path == os.environ.get(
                "OSLO_LOCK_PATH"
            )
            print("OK")
            """
        )
    )
    assert proc.stdout.strip() == "OK", proc.stderr


def test_missing_fixtures_package_gives_a_clear_error():
    proc = _run(
        HIDE.replace("PREFIXES", repr(("fixtures",)))
        + textwrap.dedent(
            """
            try:
                import fastlock.fixture.lockutils
            except ImportError as exc:
                assert "pip install fixtures" in str(exc), exc
                print("OK")
            """
        )
    )
    assert proc.stdout.strip() == "OK", proc.stderr


PLUGIN_TESTS = textwrap.dedent(
    """
    import os
    from fastlock import lockutils

    seen = {}

    def test_1_before():
        seen["conf"] = lockutils.CONF.oslo_concurrency.lock_path
        seen["env"] = os.environ.get("OSLO_LOCK_PATH")

    def test_2_uses_fixture(fastlock_lock_path):
        assert os.path.isdir(fastlock_lock_path)
        assert os.listdir(fastlock_lock_path) == []
        assert lockutils.CONF.oslo_concurrency.lock_path == fastlock_lock_path
        assert os.environ["OSLO_LOCK_PATH"] == fastlock_lock_path
        expected = os.path.join(fastlock_lock_path, "n")
        assert lockutils._get_lock_path("n", None) == expected
        seen["path"] = fastlock_lock_path

    def test_3_restored():
        assert lockutils.CONF.oslo_concurrency.lock_path == seen["conf"]
        assert os.environ.get("OSLO_LOCK_PATH") == seen["env"]
    """
)


def test_pytest_plugin_fixture(tmp_path):
    # A separate pytest run: the plugin must come from the pytest11 entry
    # point, not from this project's conftest.
    (tmp_path / "test_plugin_user.py").write_text(PLUGIN_TESTS)
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
         "--rootdir", str(tmp_path), str(tmp_path / "test_plugin_user.py")],
        cwd=str(tmp_path), capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "3 passed" in proc.stdout, proc.stdout


def test_fixture_uses_fastlock_lockutils():
    from fastlock.fixture import lockutils as module

    assert module.lockutils is fastlock_lockutils
