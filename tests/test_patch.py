"""Swap-in: ``fastlock.patch_oslo()``, ``FASTLOCK_PATCH_OSLO=1`` and
``python -m fastlock``.  Every scenario runs in a fresh interpreter, so
patching cannot leak into the rest of the run; each script asserts and
prints ``OK`` last."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest
from _processes import core_env
from _reference import import_oslo

import_oslo("oslo_concurrency")

# A user module as it exists before fastlock is swapped in.
USERAPP = textwrap.dedent(
    """
    from oslo_concurrency import lockutils
    from oslo_concurrency.lockutils import synchronized as sync
    from oslo_concurrency.lockutils import AcquireLockFailedException

    synchronized = lockutils.synchronized_with_prefix("nova-")

    @lockutils.synchronized("early")
    def decorated_early():
        import fastlock.lockutils
        return fastlock.lockutils.held_locks()

    @synchronized("nova-style")
    def nova_style():
        import fastlock.lockutils
        return fastlock.lockutils.held_locks()
    """
)


@pytest.fixture
def run(tmp_path, impl_name):
    (tmp_path / "userapp.py").write_text(USERAPP)

    def run(script, *args, env=None, expect_ok=True):
        full_env = core_env(impl_name)
        full_env["PYTHONPATH"] = os.pathsep.join(
            [str(tmp_path), full_env.get("PYTHONPATH", "")]
        )
        full_env.update(env or {})
        if not args:
            args = ("-c", textwrap.dedent(script))
        proc = subprocess.run(
            [sys.executable, *args], env=full_env, cwd=str(tmp_path),
            capture_output=True, text=True, timeout=60,
        )
        if expect_ok:
            assert proc.returncode == 0, proc.stdout + proc.stderr
            assert proc.stdout.rstrip().endswith("OK"), proc.stdout + proc.stderr
        return proc

    return run


def test_patch_before_import(run):
    run(
        """
        import importlib, sys
        from unittest import mock
        import fastlock
        assert fastlock.patch_oslo() is True
        assert fastlock.patch_oslo() is False  # idempotent
        import fastlock.lockutils as ours
        import oslo_concurrency.lockutils as a
        from oslo_concurrency import lockutils as b
        import oslo_concurrency
        assert a is b is ours is oslo_concurrency.lockutils
        assert sys.modules["oslo_concurrency.lockutils"] is ours
        assert importlib.import_module("oslo_concurrency.lockutils") is ours
        # mock.patch by dotted name reaches the code that runs
        with mock.patch("oslo_concurrency.lockutils.external_lock") as m:
            assert ours.external_lock is m
            with b.lock("x", external=True, lock_path="/nonexistent"):
                pass
            m.assert_called_once_with("x", None, "/nonexistent")
        assert ours.external_lock is not m
        # oslo's other modules keep working on top of fastlock
        from oslo_concurrency import opts
        assert opts.list_opts()[0][0] == "oslo_concurrency"
        print("OK")
        """
    )


def test_patch_after_import_rebinds_existing_references(run):
    run(
        """
        import userapp
        import oslo_concurrency.lockutils as real
        from oslo_concurrency.fixture import lockutils as oslo_fixture
        assert userapp.lockutils is real
        assert userapp.decorated_early() == []  # oslo: no held_locks()

        import fastlock, fastlock.lockutils as ours
        fastlock.patch_oslo()
        # module references and from-imports now lead to fastlock
        assert userapp.lockutils is ours
        assert oslo_fixture.lockutils is ours
        assert userapp.sync is ours.synchronized
        assert userapp.AcquireLockFailedException is ours.AcquireLockFailedException
        # the module oslo loaded forwards its names to fastlock, so code
        # decorated by oslo before the patch locks through fastlock
        assert real.lock is ours.lock and real._semaphores is ours._semaphores
        assert userapp.decorated_early() == ["early"]
        # a partial made before the patch: its func is oslo's synchronized,
        # which now calls fastlock's lock()
        assert userapp.nova_style() == ["nova-style"]

        @userapp.sync("late")
        def late():
            return ours.held_locks()
        assert late() == ["late"]

        assert fastlock.unpatch_oslo() is True
        assert userapp.lockutils is real and real.lock is not ours.lock
        import oslo_concurrency.lockutils as again
        assert again is real
        print("OK")
        """
    )


def test_patched_names_exclude_each_other(run):
    # oslo-decorated (before the patch) and fastlock code share one lock.
    run(
        """
        import threading
        import userapp
        import fastlock, fastlock.lockutils as ours
        fastlock.patch_oslo()
        inside = []
        with ours.lock("early"):
            t = threading.Thread(
                target=lambda: inside.append(userapp.decorated_early())
            )
            t.start()
            t.join(0.2)
            assert inside == [], inside  # blocked by our holder
        t.join(10)
        assert inside == [["early"]], inside
        print("OK")
        """
    )


def test_set_defaults_after_patching_an_imported_oslo(run):
    # oslo registered its option objects first; fastlock adopts them, so
    # set_defaults + get_lock_path does not raise DuplicateOptError.
    run(
        """
        import oslo_concurrency.lockutils as real
        import fastlock
        fastlock.patch_oslo()
        from oslo_concurrency import lockutils
        lockutils.set_defaults("/some/where")
        assert lockutils.get_lock_path(lockutils.CONF) == "/some/where"
        assert real.get_lock_path(real.CONF) == "/some/where"
        print("OK")
        """
    )


def test_patched_logs_under_oslo_logger_name(run):
    # Logging configuration written for oslo keeps applying.
    run(
        """
        import logging
        records = []
        class H(logging.Handler):
            def emit(self, record):
                records.append((record.name, record.getMessage()))
        logger = logging.getLogger("oslo_concurrency.lockutils")
        logger.setLevel(logging.DEBUG)
        logger.addHandler(H())
        import fastlock
        fastlock.patch_oslo()
        from oslo_concurrency import lockutils
        with lockutils.lock("logged"):
            pass
        expected = ("oslo_concurrency.lockutils", 'Acquiring lock "logged"')
        assert records[0] == expected, records
        print("OK")
        """
    )


@pytest.mark.parametrize(
    "value, patched", [("1", True), ("yes", True), ("0", False), ("", False)]
)
def test_environment_variable(run, value, patched):
    run(
        """
        import fastlock, sys
        import oslo_concurrency.lockutils as l
        assert (l.__name__ == "fastlock.lockutils") is %s, l
        print("OK")
        """ % patched,
        env={"FASTLOCK_PATCH_OSLO": value},
    )


def test_python_dash_m_fastlock(run, tmp_path):
    (tmp_path / "prog.py").write_text(textwrap.dedent(
        """
        import sys
        import oslo_concurrency.lockutils as l
        assert l.__name__ == "fastlock.lockutils", l
        assert sys.argv[1:] == ["a", "b"], sys.argv
        print("OK")
        """
    ))
    run("", "-m", "fastlock", "prog.py", "a", "b")
    run("", "-m", "fastlock", "-m", "prog", "a", "b")
    proc = run("", "-m", "fastlock", expect_ok=False)
    assert proc.returncode == 2 and "usage" in proc.stderr


# Makes oslo.concurrency (and optionally oslo.config) look uninstalled.
HIDE = """
import sys
class Hide:
    def __init__(self, prefixes):
        self.prefixes = prefixes
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in self.prefixes:
            raise ModuleNotFoundError("No module named %r" % name, name=name)
sys.meta_path.insert(0, Hide(PREFIXES))
"""


@pytest.mark.parametrize(
    "hidden", [("oslo_concurrency",), ("oslo_concurrency", "oslo_config")]
)
def test_patch_without_oslo_installed(run, hidden):
    run(
        HIDE.replace("PREFIXES", repr(hidden)) + textwrap.dedent(
            """
            try:
                import oslo_concurrency
            except ModuleNotFoundError:
                pass
            else:
                raise AssertionError("oslo.concurrency is not hidden")
            import fastlock, fastlock.lockutils as ours
            fastlock.patch_oslo()
            import oslo_concurrency.lockutils as l
            from oslo_concurrency import lockutils
            assert l is lockutils is ours
            with lockutils.lock("x"):
                assert ours.held_locks() == ["x"]
            from oslo_concurrency import opts
            assert [group for group, _ in opts.list_opts()] == ["oslo_concurrency"]
            assert opts.__name__ == "fastlock.opts"
            from oslo_concurrency.fixture import lockutils as fx
            assert fx.__name__ == "fastlock.fixture.lockutils", fx
            try:
                import oslo_concurrency.processutils
            except ModuleNotFoundError:
                pass
            else:
                raise AssertionError("processutils is not fastlock's to provide")
            fastlock.unpatch_oslo()
            try:
                import oslo_concurrency.lockutils
            except ModuleNotFoundError:
                pass
            else:
                raise AssertionError("the stand-in outlived unpatch_oslo()")
            print("OK")
            """
        )
    )


def test_unpatched_fastlock_first_hands_the_options_to_oslo(run):
    # fastlock imported first registers its options; oslo imported later
    # (without patch_oslo) gets its own registered, with what was set on
    # fastlock's carried over, and either set_defaults() reaches both.
    run(
        """
        import fastlock.lockutils as f
        f.CONF.set_override("lock_path", "/ov", group="oslo_concurrency")
        f.set_defaults("/y")
        import importlib.util
        assert importlib.util.find_spec("oslo_concurrency.lockutils")  # a probe
        import oslo_concurrency.lockutils as o
        assert o.get_lock_path(o.CONF) == f.get_lock_path(f.CONF) == "/ov"
        f.CONF.clear_override("lock_path", group="oslo_concurrency")
        assert o.get_lock_path(o.CONF) == f.get_lock_path(f.CONF) == "/y"
        o.set_defaults("/x")
        assert o.get_lock_path(o.CONF) == f.get_lock_path(f.CONF) == "/x"
        f.set_defaults("/z")
        assert o.get_lock_path(o.CONF) == f.get_lock_path(f.CONF) == "/z"
        import inspect
        assert "def set_defaults" in inspect.getsource(o)
        print("OK")
        """
    )


def test_unpatched_oslo_after_parsed_args_keeps_fastlocks_options(run):
    # Parsed arguments forbid unregistering: fastlock's options stay, and
    # oslo's equal ones register as the same.
    run(
        """
        import fastlock.lockutils as f
        f.CONF([], project="t")
        import oslo_concurrency.lockutils as o
        assert o.get_lock_path(o.CONF) == f.get_lock_path(f.CONF)
        print("OK")
        """
    )


def test_unpatched_oslo_first_shares_option_defaults(run):
    # oslo imported first: fastlock adopts oslo's option objects, so either
    # library's set_defaults() reaches both.
    run(
        """
        import oslo_concurrency.lockutils as o
        import fastlock.lockutils as f
        o.set_defaults("/x")
        assert o.get_lock_path(o.CONF) == "/x"
        assert f.get_lock_path(f.CONF) == "/x"
        f.set_defaults("/y")
        assert o.get_lock_path(o.CONF) == "/y"
        print("OK")
        """
    )
