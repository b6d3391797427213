"""Swap fastlock in for ``oslo_concurrency.lockutils`` in a whole process.

:func:`patch_oslo` makes every way of reaching oslo's lockutils give
fastlock's:

* ``sys.modules['oslo_concurrency.lockutils']`` becomes
  :mod:`fastlock.lockutils`, and so does the ``lockutils`` attribute of the
  ``oslo_concurrency`` package: later ``import oslo_concurrency.lockutils``,
  ``from oslo_concurrency import lockutils`` and
  ``mock.patch('oslo_concurrency.lockutils.X')`` all reach fastlock.
* If oslo's lockutils was imported already, its public attributes are
  rebound to fastlock's (so decorators oslo applied earlier, whose code
  looks ``lock`` up in oslo's module at call time, lock through fastlock),
  and every module attribute that refers to oslo's module, or to one of
  the functions and classes rebound above, is pointed at fastlock's.
* Without oslo.concurrency installed, a stub ``oslo_concurrency`` package
  is made, with ``lockutils``, ``opts`` and ``fixture.lockutils`` leading
  to fastlock's modules.

:func:`unpatch_oslo` undoes all of it.  ``FASTLOCK_PATCH_OSLO=1`` in the
environment patches at ``import fastlock``; ``python -m fastlock
[-m module | script] [args...]`` patches, then runs the program.
"""

from __future__ import annotations

import builtins
import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import logging
import os
import runpy
import sys
import threading
from types import ModuleType
from typing import Any

PACKAGE = 'oslo_concurrency'
MODULE = 'oslo_concurrency.lockutils'

# Aliases served lazily when oslo.concurrency is not installed at all.
_STUB_ALIASES = {
    'oslo_concurrency.opts': 'fastlock.opts',
    'oslo_concurrency.fixture.lockutils': 'fastlock.fixture.lockutils',
}
_STUB_PACKAGES = ('oslo_concurrency', 'oslo_concurrency.fixture')

_lock = threading.RLock()
_undo: list[Any] | None = None  # what to restore, while patched
_MISSING = object()


class _AliasFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Serves ``oslo_concurrency.X`` as the fastlock module it maps to."""

    def __init__(self, aliases: dict[str, str]) -> None:
        self.aliases = aliases

    def find_spec(
        self, fullname: str, path: Any = None, target: Any = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname not in self.aliases:
            return None
        return importlib.util.spec_from_loader(fullname, self)

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> None:
        return None

    def exec_module(self, module: ModuleType) -> None:
        # The import system returns whatever sys.modules holds for the
        # name once exec_module returns: the fastlock module itself.
        sys.modules[module.__name__] = importlib.import_module(
            self.aliases[module.__name__]
        )


def is_patched() -> bool:
    """Return True while :func:`patch_oslo` is in effect."""
    return _undo is not None


def patch_oslo() -> bool:
    """Make ``oslo_concurrency.lockutils`` be :mod:`fastlock.lockutils`
    everywhere in this process.

    Idempotent; returns True if this call patched, False if the process
    was patched already.
    """
    global _undo
    from fastlock import lockutils as ours

    with _lock:
        if _undo is not None:
            return False
        undo: list[Any] = []
        modules = sys.modules

        def set_module(name: str, module: ModuleType) -> None:
            undo.append(('module', name, modules.get(name, _MISSING)))
            modules[name] = module

        def set_attr(obj: Any, name: str, value: Any) -> None:
            undo.append(('attr', obj, name, getattr(obj, name, _MISSING)))
            setattr(obj, name, value)

        real = modules.get(MODULE)
        if real is ours:
            real = None
        package = modules.get(PACKAGE)
        if package is None:
            try:
                found = importlib.util.find_spec(PACKAGE) is not None
            except (ImportError, ValueError):
                found = False
            if found:
                package = importlib.import_module(PACKAGE)
        if package is None:
            # oslo.concurrency is not installed: stand in for it.
            for name in _STUB_PACKAGES:
                stub = ModuleType(name, 'fastlock stand-in for %s' % name)
                stub.__path__ = []
                stub.__spec__ = importlib.machinery.ModuleSpec(
                    name, None, is_package=True
                )
                stub.__fastlock_stub__ = True  # type: ignore[attr-defined]
                set_module(name, stub)
            set_attr(modules[_STUB_PACKAGES[0]], 'fixture', modules[_STUB_PACKAGES[1]])
            package = modules[PACKAGE]
            finder = _AliasFinder(_STUB_ALIASES)
            sys.meta_path.insert(0, finder)
            undo.append(('finder', finder))

        # Log under oslo's logger name, so that logging configuration
        # written for oslo_concurrency.lockutils keeps applying.
        set_attr(ours, 'LOG', logging.getLogger(MODULE))
        if real is not None:
            replaced = _rebind_module(real, ours, set_attr)
            _rebind_references(real, ours, replaced, undo)
        _adopt_registered_opts(undo)
        set_module(MODULE, ours)
        set_attr(package, 'lockutils', ours)
        _undo = undo
        return True


def unpatch_oslo() -> bool:
    """Undo :func:`patch_oslo`; return False if it was not in effect."""
    global _undo
    with _lock:
        if _undo is None:
            return False
        for entry in reversed(_undo):
            kind = entry[0]
            if kind == 'module':
                _, name, old = entry
                if old is _MISSING:
                    sys.modules.pop(name, None)
                else:
                    sys.modules[name] = old
            elif kind == 'attr':
                _, obj, name, old = entry
                if old is _MISSING:
                    try:
                        delattr(obj, name)
                    except AttributeError:
                        pass
                else:
                    setattr(obj, name, old)
            elif kind == 'dict':
                _, namespace, key, old, new = entry
                if namespace.get(key) is new:
                    namespace[key] = old
            elif kind == 'list':
                entry[1][:] = entry[2]
            elif kind == 'finder':
                try:
                    sys.meta_path.remove(entry[1])
                except ValueError:
                    pass
        for alias in _STUB_ALIASES:
            module = sys.modules.get(alias)
            if module is not None and module.__name__ != alias:
                del sys.modules[alias]  # an alias served by the finder
        _undo = None
        return True


def _adopt_registered_opts(undo: list[Any]) -> None:
    """Make fastlock's option objects the ones registered on ``CONF``.

    If oslo's lockutils registered its options first, ``CONF`` holds oslo's
    Opt objects.  ``set_defaults`` changes the defaults of the objects in
    ``_opts``, and the next ``register_opts`` compares them with the
    registered ones: with two sets of objects that raises
    ``DuplicateOptError``.  One shared set avoids it.
    """
    from fastlock import _config

    if _config.cfg is None:
        return
    registered = []
    for opt in _config._opts:
        try:
            info = _config.CONF._get_opt_info(opt.dest, _config.GROUP)
        except Exception:  # noqa: BLE001 - not registered: keep ours
            registered.append(opt)
        else:
            registered.append(info['opt'])
    if any(a is not b for a, b in zip(registered, _config._opts, strict=True)):
        undo.append(('list', _config._opts, list(_config._opts)))
        _config._opts[:] = registered


def _rebind_module(real: ModuleType, ours: ModuleType, set_attr: Any) -> dict[int, Any]:
    """Point the public names of oslo's already imported module at
    fastlock's; return {id(old object): new object}."""
    replaced: dict[int, Any] = {}
    for name, old in list(vars(real).items()):
        if name.startswith('__') or isinstance(old, ModuleType):
            continue
        new = getattr(ours, name, _MISSING)
        if new is _MISSING or new is old:
            continue
        set_attr(real, name, new)
        if callable(old) or name in ('_semaphores', '_fair_locks'):
            replaced[id(old)] = (old, new)
    return replaced


def _rebind_references(
    real: ModuleType, ours: ModuleType, replaced: dict[int, Any], undo: list[Any]
) -> None:
    """Point module attributes that refer to oslo's lockutils module, or
    to objects rebound by :func:`_rebind_module`, at fastlock's."""
    for module in list(sys.modules.values()):
        if module is None or module is real or module is ours:
            continue
        name = getattr(module, '__name__', '')
        if not isinstance(name, str) or name.split('.')[0] == 'fastlock':
            continue
        try:
            namespace = vars(module)
        except TypeError:
            continue
        for key, value in list(namespace.items()):
            if value is real:
                new = ours
            else:
                pair = replaced.get(id(value))
                if pair is None or pair[0] is not value:
                    continue
                new = pair[1]
            namespace[key] = new
            undo.append(('dict', namespace, key, value, new))


USAGE = 'usage: python -m fastlock [-c command | -m module | script] [args...]'
HELP = USAGE + """

Run a Python program with oslo_concurrency.lockutils replaced by
fastlock.lockutils, as python would run it:

  -c command  program passed in as a string (sys.argv[0] is '-c')
  -m module   run a library module as a script (sys.argv[0] is its path)
  script      run a program read from a file
  args ...    passed to the program in sys.argv[1:]
  -h, --help  show this help and exit"""


def _usage_error(message: str) -> None:
    print('%s\npython -m fastlock: error: %s' % (USAGE, message), file=sys.stderr)
    raise SystemExit(2)


def _run(argv: list[str]) -> None:
    """``python -m fastlock [-c command | -m module | script] [args...]``:
    patch, then run the program as ``python`` would."""
    if not argv:
        _usage_error('nothing to run')
    first = argv[0]
    if first in ('-h', '--help'):
        print(HELP)
        raise SystemExit(0)
    if first in ('-c', '-m'):
        if len(argv) < 2:
            _usage_error('argument %s: expected one argument' % first)
    elif first.startswith('-'):
        _usage_error('unknown option %s' % first)
    elif not os.path.exists(first):
        # python's own wording and exit status for a missing script
        print("python -m fastlock: can't open file %r: [Errno 2] No such file "
              'or directory' % first, file=sys.stderr)
        raise SystemExit(2)
    patch_oslo()
    if first == '-c':
        sys.argv = ['-c', *argv[2:]]
        main = ModuleType('__main__')
        main.__builtins__ = builtins  # type: ignore[attr-defined]
        sys.modules['__main__'] = main
        exec(compile(argv[1], '<string>', 'exec'), vars(main))  # noqa: S102
    elif first == '-m':
        name = argv[1]
        try:
            found = importlib.util.find_spec(name) is not None
        except (ImportError, ValueError):
            found = False
        if not found:
            print('python -m fastlock: No module named %s' % name, file=sys.stderr)
            raise SystemExit(1)
        sys.argv = argv[1:]
        runpy.run_module(name, run_name='__main__', alter_sys=True)
    else:
        sys.argv = list(argv)
        runpy.run_path(first, run_name='__main__')
