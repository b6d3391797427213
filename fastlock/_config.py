"""The ``[oslo_concurrency]`` options: ``lock_path`` and
``disable_process_locking``; fastlock's own ``[fastlock]`` option
``warn_wait_seconds``.

When oslo.config is importable, ``CONF`` is ``oslo_config.cfg.CONF`` with
the options registered exactly as oslo.concurrency registers them (same
names, defaults and help, so registering both libraries is harmless).
Otherwise a small stand-in with the same attribute access and the
override calls that tests use takes its place.
"""

from __future__ import annotations

import importlib.abc
import importlib.util
import os
import sys
from typing import Any

_LOCK_PATH_HELP = (
    'Directory to use for lock files.  For security, the '
    'specified directory should only be writable by the user '
    'running the processes that need locking. '
    'Defaults to environment variable OSLO_LOCK_PATH. '
    'If external locks are used, a lock path must be set.'
)
_DISABLE_HELP = 'Enables or disables inter-process locks.'
GROUP = 'oslo_concurrency'
FASTLOCK_GROUP = 'fastlock'
_WARN_WAIT_HELP = (
    'Log a WARNING, naming the lock, its holders and how many wait, when '
    'a caller has waited this many seconds for an in-process lock and '
    'still waits (once per wait).  0 disables the warning.'
)
_GROUP_OF = {
    'disable_process_locking': GROUP,
    'lock_path': GROUP,
    'warn_wait_seconds': FASTLOCK_GROUP,
}

try:
    from oslo_config import cfg as cfg
except ImportError:
    cfg = None  # type: ignore[assignment]


class RequiredOptError(ValueError):
    """Raised, without oslo.config, when ``lock_path`` is needed but unset.

    The message matches ``oslo_config.cfg.RequiredOptError``.
    """

    def __init__(self, opt_name: str, group: str) -> None:
        super().__init__(
            'value required for option %s in group [%s]' % (opt_name, group)
        )


class _StandInGroup:
    """Attribute access to one option group, as ``CONF.<group>`` gives."""

    def __init__(self, conf: StandInConf, group: str) -> None:
        self._conf = conf
        self._group = group

    def __getattr__(self, name: str) -> Any:
        return self._conf._lookup(name, self._group)


class StandInConf:
    """The subset of ``oslo_config.cfg.ConfigOpts`` that lockutils users
    reach for: ``CONF.oslo_concurrency.<opt>``, ``set_override``,
    ``clear_override``, ``set_default`` and ``register_opts``.
    """

    def __init__(self) -> None:
        self._defaults: dict[str, Any] = {
            'disable_process_locking': False,
            'lock_path': os.environ.get('OSLO_LOCK_PATH'),
            'warn_wait_seconds': 30.0,
        }
        self._overrides: dict[str, Any] = {}
        self.oslo_concurrency = _StandInGroup(self, GROUP)
        self.fastlock = _StandInGroup(self, FASTLOCK_GROUP)

    def _check(self, name: str, group: str | None) -> None:
        if name not in self._defaults or group not in (None, _GROUP_OF[name]):
            raise KeyError('no such option %s in group [%s]' % (name, group))

    def _lookup(self, name: str, group: str = GROUP) -> Any:
        self._check(name, group)
        if name in self._overrides:
            return self._overrides[name]
        return self._defaults[name]

    def set_override(self, name: str, override: Any, group: str | None = None) -> None:
        """Override an option value, as ``ConfigOpts.set_override`` does."""
        self._check(name, group)
        self._overrides[name] = override

    def clear_override(self, name: str, group: str | None = None) -> None:
        """Undo ``set_override``."""
        self._check(name, group)
        self._overrides.pop(name, None)

    def set_default(self, name: str, default: Any, group: str | None = None) -> None:
        """Change an option default, as ``ConfigOpts.set_default`` does."""
        self._check(name, group)
        self._defaults[name] = default

    def register_opts(self, opts: Any, group: str | None = None) -> None:
        """Accept registration calls; the options always exist here."""


if cfg is not None:
    _opts = [
        cfg.BoolOpt('disable_process_locking', default=False, help=_DISABLE_HELP),
        cfg.StrOpt(
            'lock_path', default=os.environ.get("OSLO_LOCK_PATH"), help=_LOCK_PATH_HELP
        ),
    ]
    _fastlock_opts = [
        cfg.FloatOpt(
            'warn_wait_seconds', default=30.0, min=0, help=_WARN_WAIT_HELP
        ),
    ]
    CONF: Any = cfg.CONF
else:
    _opts = []
    _fastlock_opts = []
    CONF = StandInConf()


def register_opts(conf: Any) -> None:
    """Register the ``[oslo_concurrency]`` options on *conf*.

    When oslo.concurrency registered them on ``CONF`` first, its option
    objects are adopted, so that ``set_defaults()`` from either library
    changes the one set both read.
    """
    if cfg is None:
        return
    conf.register_opts(_fastlock_opts, group=FASTLOCK_GROUP)
    try:
        conf.register_opts(_opts, group=GROUP)
    except cfg.DuplicateOptError:
        if conf is not CONF:
            raise
    if conf is CONF:
        _opts[:] = [
            conf._get_opt_info(opt.dest, GROUP)['opt'] for opt in _opts
        ]


def set_defaults(lock_path: str) -> None:
    """Set value for lock_path.

    This can be used by tests to set lock_path to a temporary directory.
    """
    if cfg is not None:
        cfg.set_defaults(_opts, lock_path=lock_path)
    else:
        CONF.set_default('lock_path', lock_path, group=GROUP)


def get_lock_path(conf: Any) -> str | None:
    """Return the path used for external file-based locks.

    :param conf: Configuration object
    :type conf: oslo_config.cfg.ConfigOpts

    .. versionadded:: 1.8
    """
    register_opts(conf)
    lock_path: str | None = conf.oslo_concurrency.lock_path
    return lock_path


def option(conf: Any, name: str) -> Any:
    """Return ``conf.oslo_concurrency.<name>``.

    oslo.config keeps every value it has looked up in a cache that it
    clears on each change (overrides, defaults, reloads); reading that
    cache directly gives the same value without the dozen Python calls of
    an attribute lookup, which would cost more than an external lock.
    Anything else (the stand-in, a mock, a value not cached yet) takes
    the attribute lookup.
    """
    cache = getattr(conf, '_ConfigOpts__cache', None)
    if type(cache) is dict:
        try:
            return cache[(GROUP, name)]
        except KeyError:
            pass
    return getattr(getattr(conf, GROUP), name)


def warn_wait_seconds() -> float:
    """Return ``CONF.fastlock.warn_wait_seconds`` (0 when unusable)."""
    try:
        value = float(getattr(CONF, FASTLOCK_GROUP).warn_wait_seconds)
    except Exception:  # an unregistered or broken CONF: no warnings
        return 0.0
    return value if value > 0 else 0.0


def require_lock_path(lock_path: str | None) -> str:
    """Return *lock_path* or the configured one; raise oslo's error if
    neither is set."""
    path = lock_path or option(CONF, 'lock_path')
    if not path:
        if cfg is not None:
            raise cfg.RequiredOptError('lock_path', cfg.OptGroup(GROUP))
        raise RequiredOptError('lock_path', GROUP)
    return str(path)


register_opts(CONF)


class _OptionsHandOver(importlib.abc.MetaPathFinder):
    """Lets ``oslo_concurrency.lockutils``, imported after fastlock and
    without :func:`fastlock.patch_oslo`, register its own option objects;
    fastlock then adopts them.

    Without it the registered objects would stay fastlock's equal copies:
    oslo's ``set_defaults()`` would change objects that nobody reads, and
    oslo's next ``register_opts()`` would find them different and raise
    ``DuplicateOptError``.  Once ``CONF`` has parsed its arguments options
    cannot be unregistered, and the hand-over is skipped.
    """

    def __init__(self) -> None:
        self._finding = False

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Any:
        if fullname != _OSLO_LOCKUTILS or self._finding:
            return None
        self._finding = True  # the lookup below asks us again
        try:
            spec = importlib.util.find_spec(fullname)
        finally:
            self._finding = False
        if spec is not None and spec.loader is not None:
            spec.loader = _HandOverLoader(spec.loader, self)
        return spec


class _HandOverLoader(importlib.abc.Loader):
    """oslo's loader, with fastlock's options unregistered around it."""

    def __init__(self, loader: Any, finder: _OptionsHandOver) -> None:
        self._loader = loader
        self._finder = finder

    def __getattr__(self, name: str) -> Any:
        return getattr(self._loader, name)  # get_source, is_package...

    def create_module(self, spec: Any) -> Any:
        return self._loader.create_module(spec)

    def exec_module(self, module: Any) -> None:
        if self._finder in sys.meta_path:
            sys.meta_path.remove(self._finder)  # one hand-over
        # What was set on fastlock's options survives the swap: defaults
        # (set_defaults) and the overrides and defaults held by CONF.
        saved = [
            (opt.dest, opt.default, CONF._get_opt_info(opt.dest, GROUP))
            for opt in _opts
        ]
        try:
            for opt in _opts:
                CONF.unregister_opt(opt, group=GROUP)
        except cfg.ArgsAlreadyParsedError:
            self._loader.exec_module(module)
            return
        try:
            self._loader.exec_module(module)
        finally:
            register_opts(CONF)  # adopts oslo's objects, or restores ours
            for opt, (dest, default, info) in zip(_opts, saved, strict=True):
                opt.default = default
                if info.get('default') is not None:
                    CONF.set_default(dest, info['default'], group=GROUP)
                if info.get('override') is not None:
                    CONF.set_override(dest, info['override'], group=GROUP)


_OSLO_LOCKUTILS = 'oslo_concurrency.lockutils'
if cfg is not None and _OSLO_LOCKUTILS not in sys.modules:
    sys.meta_path.insert(0, _OptionsHandOver())


def list_opts() -> list[tuple[str, list[Any]]]:
    """Return a list of oslo.config options available in the library.

    :returns: a list of (group_name, opts) tuples
    """
    import copy

    return [(GROUP, copy.deepcopy(_opts))]


def list_fastlock_opts() -> list[tuple[str, list[Any]]]:
    """Return fastlock's own oslo.config options (the ``[fastlock]``
    group), for ``oslo-config-generator --namespace fastlock.diagnostics``.

    :returns: a list of (group_name, opts) tuples
    """
    import copy

    return [(FASTLOCK_GROUP, copy.deepcopy(_fastlock_opts))]
