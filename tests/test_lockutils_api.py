"""API parity: ``fastlock.lockutils`` against the installed
``oslo_concurrency.lockutils`` (names, signatures, defaults), and the
compiled core against its pure-Python twin.

Signatures are compared by parameter name, kind and default; annotations
are not compared (oslo's are evaluated, fastlock's are strings).
fastlock deliberately ADDS keyword-only parameters (``timeout``), listed
in ``ADDED``; everything oslo has must be there, in the same order.
"""

from __future__ import annotations

import inspect
import types

import pytest
from _reference import import_oslo

from fastlock import _core_c, _core_py
from fastlock import lockutils as fastlock_lockutils

oslo = import_oslo()

# Deliberate additions: keyword-only, defaulted, after oslo's parameters.
ADDED = {
    "lock": {"timeout"},
    "synchronized": {"timeout"},
    "internal_lock": {"timeout"},
    "LockPartialProtocol.__call__": {"timeout"},
    "SyncPartialProtocol.__call__": {"timeout"},
}

# Owned by the external-locks work; skipped (not failed) while missing.
EXTERNAL = {
    "InterProcessLock",
    "RemovePartialProtocol",
    "remove_external_lock_file",
    "remove_external_lock_file_with_prefix",
}

# Private helpers that oslo users and oslo's own tests reach for.
PRIVATE_USED = [
    "_semaphores",
    "_fair_locks",
    "_opts",
    "_register_opts",
    "_get_lock_path",
    "_lock_wrapper",
]


def _public_names() -> list[str]:
    names = []
    for name, value in vars(oslo).items():
        if name.startswith("_") or isinstance(value, types.ModuleType):
            continue
        module = getattr(value, "__module__", None)
        imported = module != oslo.__name__ and (
            inspect.isfunction(value)
            or isinstance(value, type)
            or module == "typing"
        )
        if imported and name != "InterProcessLock":
            continue  # cast, Generator, Any...: not oslo's API
        names.append(name)
    return sorted(names)


PUBLIC = _public_names()


def test_the_reference_list_is_complete():
    # Guard against the filter above silently dropping the API.
    for name in (
        "lock", "synchronized", "internal_lock", "external_lock",
        "lock_with_prefix", "synchronized_with_prefix", "Semaphores",
        "FairLocks", "ReaderWriterLock", "AcquireLockFailedException",
        "internal_fair_lock", "set_defaults", "get_lock_path", "main",
        "CONF", "LOG", "InterProcessLock", "remove_external_lock_file",
        "remove_external_lock_file_with_prefix", "LockPartialProtocol",
        "SyncPartialProtocol", "RemovePartialProtocol",
    ):
        assert name in PUBLIC


def _params(func, skip_self=False):
    params = list(inspect.signature(func).parameters.values())
    if skip_self and params and params[0].name == "self":
        params = params[1:]
    return [(p.name, p.kind, p.default) for p in params]


def _check_signature(qualname, theirs, ours, skip_self=False):
    expected = _params(theirs, skip_self)
    got = _params(ours, skip_self)
    added = ADDED.get(qualname, set())
    extra = got[len(expected):]
    assert got[: len(expected)] == expected, qualname
    for name, kind, default in extra:
        assert name in added, "%s: unexpected parameter %s" % (qualname, name)
        assert kind is inspect.Parameter.KEYWORD_ONLY, (qualname, name)
        assert default is not inspect.Parameter.empty, (qualname, name)


def _require(name):
    if not hasattr(fastlock_lockutils, name):
        if name in EXTERNAL:
            pytest.skip("%s belongs to the external-locks work" % name)
        pytest.fail("fastlock.lockutils lacks %s" % name)
    return getattr(fastlock_lockutils, name)


@pytest.mark.parametrize("name", PUBLIC + PRIVATE_USED)
def test_name_exists_with_same_signature(name):
    theirs = getattr(oslo, name)
    ours = _require(name)
    if isinstance(theirs, type):
        assert isinstance(ours, type), name
        if issubclass(theirs, BaseException):
            assert issubclass(ours, BaseException)
        if theirs.__init__ is not object.__init__:
            _check_signature(name, theirs.__init__, ours.__init__, True)
    elif inspect.isfunction(theirs):
        assert callable(ours), name
        _check_signature(name, theirs, ours)
    else:
        # Same kind of object (fastlock's own classes for the containers).
        assert type(ours).__name__ == type(theirs).__name__, name


def _class_api(cls):
    """Public methods and properties, inherited ones included."""
    api = {}
    for klass in reversed(cls.__mro__):
        if klass in (object, BaseException, Exception):
            continue
        for attr, value in vars(klass).items():
            if attr.startswith("_") and attr not in ("__init__", "__call__"):
                continue
            api[attr] = value
    return api


@pytest.mark.parametrize(
    "name",
    [
        n for n in PUBLIC
        if isinstance(getattr(oslo, n), type)
        and not issubclass(getattr(oslo, n), BaseException)
    ],
)
def test_class_members_match(name):
    theirs = getattr(oslo, name)
    ours = _require(name)
    our_api = _class_api(ours)
    for attr, value in _class_api(theirs).items():
        if attr == "__init__":
            continue
        assert attr in our_api, "%s.%s is missing" % (name, attr)
        mine = our_api[attr]
        if isinstance(value, property):
            assert isinstance(mine, property), "%s.%s" % (name, attr)
        elif inspect.isfunction(value):
            assert callable(mine), "%s.%s" % (name, attr)
            _check_signature(
                "%s.%s" % (name, attr), value, mine, skip_self=True
            )
        else:
            assert mine == value, "%s.%s" % (name, attr)


def test_fixture_module_names():
    pytest.importorskip("fixtures")
    from oslo_concurrency.fixture import lockutils as theirs

    from fastlock.fixture import lockutils as ours

    for name in ("LockFixture", "ExternalLockFixture"):
        _check_signature(
            name, getattr(theirs, name).__init__, getattr(ours, name).__init__,
            True,
        )


def test_list_opts_matches_oslo():
    from oslo_concurrency import opts as oslo_opts

    from fastlock import opts

    ((group, theirs),) = oslo_opts.list_opts()
    ((our_group, ours),) = opts.list_opts()
    assert our_group == group
    assert [(o.name, o.default, o.help, type(o)) for o in ours] == [
        (o.name, o.default, o.help, type(o)) for o in theirs
    ]


def test_entry_points_are_declared():
    from importlib.metadata import entry_points

    scripts = {ep.name: ep.value for ep in entry_points(group="console_scripts")}
    assert scripts.get("fastlock-wrapper") == "fastlock.lockutils:main"
    opts = {ep.name: ep for ep in entry_points(group="oslo.config.opts")}
    ((group, options),) = opts["fastlock"].load()()
    assert group == "oslo_concurrency"
    assert sorted(o.name for o in options) == ["disable_process_locking", "lock_path"]
    assert opts["fastlock"].value == "fastlock.opts:list_opts"
    plugins = {ep.name: ep.value for ep in entry_points(group="pytest11")}
    assert plugins.get("fastlock") == "fastlock.pytest_plugin"


# -- the compiled core against its twin --------------------------------------


def _embedded_signature(cls):
    """The constructor signature Cython's ``embedsignature`` put in the
    first line of a cdef class docstring, as a signature without self."""
    first = (cls.__doc__ or "").splitlines()[0]
    assert first.startswith(cls.__name__ + "("), first
    namespace: dict = {}
    exec("def f%s: pass" % first[len(cls.__name__):], namespace)  # noqa: S102
    return inspect.signature(namespace["f"])


def _plain(sig, skip_self=False):
    params = list(sig.parameters.values())
    if skip_self and params and params[0].name == "self":
        params = params[1:]
    return [(p.name, p.kind, p.default) for p in params]


def test_core_all_names_match():
    assert sorted(_core_c.__all__) == sorted(_core_py.__all__)
    public = lambda mod: {  # noqa: E731
        n for n in dir(mod)
        if not n.startswith("_") and n in getattr(mod, "__all__", ())
    }
    assert public(_core_c) == public(_core_py)


@pytest.mark.parametrize("name", sorted(_core_py.__all__))
def test_core_signatures_match(name):
    c_obj, py_obj = getattr(_core_c, name), getattr(_core_py, name)
    if not callable(py_obj):  # a constant: the same value
        assert c_obj == py_obj
        return
    if not isinstance(py_obj, type):
        assert _plain(inspect.signature(c_obj)) == _plain(inspect.signature(py_obj))
        return
    assert _plain(_embedded_signature(c_obj)) == _plain(
        inspect.signature(py_obj.__init__), skip_self=True
    )
    c_public = {n for n in dir(c_obj) if not n.startswith("_")}
    py_public = {n for n in dir(py_obj) if not n.startswith("_")}
    assert c_public == py_public
    for attr in sorted(py_public | {"__enter__", "__exit__", "__len__"}):
        if not hasattr(py_obj, attr):
            assert not hasattr(c_obj, attr), attr
            continue
        py_attr = getattr(py_obj, attr)
        c_attr = getattr(c_obj, attr)
        if isinstance(py_attr, property):
            assert not callable(c_attr), attr  # a getset descriptor
            continue
        if attr in ("__exit__", "__len__"):
            continue  # slot wrappers have no introspectable signature
        assert _plain(inspect.signature(c_attr), True) == _plain(
            inspect.signature(py_attr), True
        ), attr
