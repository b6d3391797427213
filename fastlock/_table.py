"""Who holds which lock, who waits, for how long: ``lock_table()``,
``dump_locks()``, the slow-wait warning and the Guru Meditation section.

The core keeps, next to its held-locks list, when and by which thread
each named semaphore was taken and a few counters; this module turns
those snapshots into records.  Nothing here runs on the uncontended path.
"""

from __future__ import annotations

import importlib.abc
import importlib.util
import logging
import os
import sys
import threading
from types import CodeType, ModuleType
from typing import IO, Any, NamedTuple

LOG = logging.getLogger('fastlock.lockutils')


class LockHolder(NamedTuple):
    """One holder of a lock in :func:`lock_table`."""

    thread_name: str
    thread_id: int
    greenlet: bool
    held_seconds: float
    function: str | None


class LockRecord(NamedTuple):
    """One lock that is held or waited on, in :func:`lock_table`."""

    name: Any
    kind: str  # 'internal', 'external', 'fair' or 'semaphores'
    holders: list[LockHolder]
    waiters: int
    acquisitions: int
    total_wait_seconds: float
    longest_wait_seconds: float
    longest_hold_seconds: float


def _nested_codes(code: CodeType, names: set[str]) -> list[CodeType]:
    found = []
    for const in code.co_consts:
        if isinstance(const, CodeType):
            if const.co_name in names:
                found.append(const)
            found.extend(_nested_codes(const, names))
    return found


class _Facade:
    # What lockutils passes in: the core, its containers, helpers.
    core: ModuleType
    default: Any = None
    fair: Any = None
    sync_codes: frozenset[CodeType] = frozenset()
    callable_name: Any = None


_facade = _Facade()


def bind(
    core: ModuleType, semaphores: Any, fair_locks: Any,
    synchronized: Any, callable_name: Any,
) -> None:
    """Point the tables at *core* and lockutils' default containers."""
    _facade.core = core
    _facade.default = semaphores._registry
    _facade.fair = fair_locks
    _facade.sync_codes = frozenset(
        _nested_codes(synchronized.__code__, {'inner', 'logged'})
    )
    _facade.callable_name = callable_name
    core._set_wait_hook(_watchdog.watch)


def _frame_of(glet: Any, thread_id: int) -> Any:
    frame = getattr(glet, 'gr_frame', None)
    if frame is None:  # running: the current frame of its OS thread
        frame = sys._current_frames().get(thread_id)
    return frame


def _function(glet: Any, thread_id: int, name: Any) -> str | None:
    # The outermost synchronized() wrapper for *name* on the holder's
    # stack: its closure has the lock name and the decorated function.
    frame = _frame_of(glet, thread_id)
    found = None
    while frame is not None:
        if frame.f_code in _facade.sync_codes:
            local = frame.f_locals
            if 'f' in local and _same(local.get('name'), name):
                found = local['f']
        frame = frame.f_back
    if found is None:
        return None
    return str(_facade.callable_name(found))


def _same(a: Any, b: Any) -> bool:
    # a == b for lock names, any hashables: one whose __eq__ raises is
    # only equal to itself, rather than failing the whole table.
    try:
        return a is b or bool(a == b)
    except Exception:
        return False


def _shown(name: Any) -> str:
    # repr(name) for the table, or what it is when its repr() raises.
    try:
        return repr(name)
    except Exception:
        return '<%s object at %#x>' % (type(name).__qualname__, id(name))


def _thread_name(glet: Any, thread_id: int) -> tuple[str, int, bool]:
    green = glet.parent is not None
    if green:
        # Under eventlet, threading.get_ident() of a green thread.
        thread_id = id(glet)
    thread = threading._active.get(thread_id)  # type: ignore[attr-defined]
    if thread is None:
        patcher = sys.modules.get('eventlet.patcher')
        if patcher is not None:
            native = patcher.original('threading')._active
            thread = native.get(thread_id)
    if thread is not None:
        return str(thread.name), thread_id, green
    if green:
        return '%s-%#x' % (type(glet).__name__, id(glet)), thread_id, green
    return 'Thread-%d' % thread_id, thread_id, green


def _holders(sem: Any, holders: list[Any]) -> list[LockHolder]:
    result = []
    for glet, thread_id, held in holders:
        thread_name, ident, green = _thread_name(glet, thread_id)
        result.append(LockHolder(
            thread_name, ident, green, max(0.0, held),
            _function(glet, thread_id, sem.name),
        ))
    return result


def _external_names(core: ModuleType) -> dict[Any, set[str]]:
    # holder greenlet -> basenames of the lock files it holds.
    names: dict[Any, set[str]] = {}
    for path, owner in core._held_lock_files():
        names.setdefault(owner, set()).add(os.path.basename(os.fsdecode(path)))
    return names


# Lock file prefixes that lock paths were made with (None: no prefix),
# so that a name's own lock file can be told from another name's that
# ends the same way ('u1' against 'refresh_cache-u1').  Past the bound
# (a prefix per call would be odd), a suffix match decides instead.
_prefixes: set[str | None] = {None}
_PREFIXES_MAX = 256


def note_lock_file_prefix(prefix: str | None) -> None:
    """Remember that a lock file path was made with *prefix*."""
    if prefix not in _prefixes and len(_prefixes) <= _PREFIXES_MAX:
        _prefixes.add(prefix or None)


def _lock_file_names(base: str) -> set[str] | None:
    # The names the lock file of *base* may have; None past the bound.
    if len(_prefixes) > _PREFIXES_MAX:
        return None
    return {
        base if not prefix else
        prefix + ('' if prefix.endswith('-') else '-') + base
        for prefix in list(_prefixes)
    }


def _is_external(name: Any, holders: list[Any], files: dict[Any, set[str]]) -> bool:
    # lock(name, external=True) holds the name's semaphore, then the file
    # <prefix>-<name> (os.sep replaced) in the lock path.
    if not isinstance(name, str):
        return False
    base = name.replace(os.sep, '_')
    candidates = _lock_file_names(base)
    for glet, _thread, _held in holders:
        for held in files.get(glet, ()):
            if candidates is None:
                if held == base or held.endswith('-' + base):
                    return True
            elif held in candidates:
                return True
    return False


def lock_table() -> list[LockRecord]:
    """Return one record per lock that is held or waited on now.

    Internal, external, fair and ``semaphores=`` locks are listed, in no
    particular order.  Each record has the
    lock's ``name``, its ``kind`` (``'internal'``, ``'external'``,
    ``'fair'`` or ``'semaphores'``), its ``holders`` (each with
    ``thread_name``, ``thread_id``, ``greenlet``, ``held_seconds`` and
    ``function``, the decorated function's name when the lock was taken
    through :func:`synchronized`, else None) and how many ``waiters``
    wait now, plus counters kept while the name lives: ``acquisitions``,
    ``total_wait_seconds``, ``longest_wait_seconds`` and
    ``longest_hold_seconds``.

    Hold times come from the kernel's coarse clock in the compiled core:
    exact to a clock tick (a few milliseconds).  A lock held by a group
    of fair readers shows the reader that took it.  Waits in the kernel
    for another process's lock file are not counted (see
    ``fastlock-holders``).
    """
    core = _facade.core
    files = _external_names(core)
    records = []
    for registry, sem in core._active_locks():
        holders, waiters, counters = core._lock_info(sem)
        if not holders and not waiters:
            continue  # released since _active_locks() looked
        if registry is _facade.default:
            external = _is_external(sem.name, holders, files)
            kind = 'external' if external else 'internal'
        elif registry is _facade.fair._registry:
            kind = 'fair'
        else:
            kind = 'semaphores'
        records.append(LockRecord(
            sem.name, kind, _holders(sem, holders), len(waiters), *counters
        ))
    return records


def format_table(records: list[LockRecord]) -> list[str]:
    """Return :func:`lock_table` records as lines of a readable table."""
    if not records:
        return ['No lock is held or waited on.']
    lines = []
    for r in records:
        lines.append(
            'Lock %s (%s): %d holder(s), %d waiting; %d acquisitions, '
            'waited %.3fs in total, longest wait %.3fs, longest hold %.3fs'
            % (_shown(r.name), r.kind, len(r.holders), r.waiters, r.acquisitions,
               r.total_wait_seconds, r.longest_wait_seconds,
               r.longest_hold_seconds)
        )
        for h in r.holders:
            lines.append('    held %.3fs by %s' % (h.held_seconds, _who(h)))
    return lines


def _who(h: LockHolder) -> str:
    kind = 'green thread' if h.greenlet else 'thread'
    who = '%s "%s" (id %d)' % (kind, h.thread_name, h.thread_id)
    if h.function is not None:
        who += ' in "%s"' % h.function
    return who


def dump_locks(file: IO[str] | None = None) -> None:
    """Write :func:`lock_table` as a readable table to *file*
    (default: ``sys.stderr``)."""
    out = sys.stderr if file is None else file
    for line in format_table(lock_table()):
        out.write(line + '\n')
    out.flush()


# -- the slow-wait warning --------------------------------------------------


def _original(name: str) -> Any:
    patcher = sys.modules.get('eventlet.patcher')
    if patcher is not None:
        return patcher.original(name)
    return __import__(name)


_start_thread = _original('_thread').start_new_thread  # tests patch it
_sleep = _original('time').sleep
_monotonic = _original('time').monotonic


class _Watchdog:
    """One native thread, started when somebody waits on a named lock
    with ``warn_wait_seconds`` set, that logs one WARNING per wait that
    lasts that long while it still waits, and ends when nobody waits.

    The core calls :meth:`watch` (slow path only) just before a caller
    parks; a parked native thread cannot log for itself.  Each scan looks
    at every lock that is waited on (no reference to a semaphore is kept
    between scans, so registries still drop them).

    A scan that raises is a bug: the first one is logged with its
    traceback (``LOG.exception``), later ones are only counted in
    ``errors``, and the watchdog goes on scanning; as it cannot tell
    whether anybody waits, it does not end while its scans fail.

    A start can be lost: a signal handler's exception (KeyboardInterrupt,
    an alarm) may land in :meth:`watch` after it marked the watchdog
    running and before the thread runs.  So the thread beats at each
    scan, and a wait that finds no beat for ``stale_seconds`` starts a
    new thread; each thread has a generation, and one that is not the
    latest ends at its next scan.
    """

    stale_seconds = 5.0  # five times the longest pause between scans

    def __init__(self) -> None:
        self._guard = _original('_thread').allocate_lock()
        self._cores: set[ModuleType] = set()
        self._warned: set[Any] = set()  # wait tokens already reported
        self._running = False
        self._generation = 0  # of the latest thread started
        self._beat = 0.0  # when the latest thread last scanned
        # Set by watch(), cleared by each scan: a caller about to wait
        # that the scan may have looked too early to see.
        self._poked = False
        self.errors = 0  # scans that raised
        self.warn_seconds: Any = None  # () -> float; set by lockutils

    def watch(self, sem: Any) -> None:
        if self.warn_seconds is None or not self.warn_seconds():
            return
        core = _core_of(sem)
        now = _monotonic()
        with self._guard:
            self._cores.add(core)
            self._poked = True
            if self._running and now - self._beat < self.stale_seconds:
                return
            self._running = True
            self._beat = now
            self._generation += 1
            generation = self._generation
        try:
            _start_thread(self._run, (generation,))
        except Exception:
            # No thread to be had (a thread limit reached, the interpreter
            # exiting): this wait goes unwatched and the next one tries
            # again; the caller's acquire() must not fail for a warning.
            self._stop(generation)

    def _stop(self, generation: int) -> None:
        with self._guard:
            if self._generation == generation:
                self._running = False

    def _run(self, generation: int) -> None:
        idle = 0
        try:
            while True:
                warn = self.warn_seconds() if self.warn_seconds else 0.0
                _sleep(min(1.0, max(0.01, warn / 4)) if warn else 0.1)
                with self._guard:
                    if self._generation != generation:
                        return  # a newer thread took over
                    self._beat = _monotonic()
                    poked, self._poked = self._poked, False
                busy = self._checked_scan(warn) or poked
                # Idle for two scans, and nobody about to wait.
                idle = 0 if busy else idle + 1
                if idle >= 2:
                    with self._guard:
                        if not self._poked:
                            if self._generation == generation:
                                self._running = False
                            return
        except BaseException:
            # An interpreter shutting down: the next wait may start a
            # watchdog again.
            self._stop(generation)
            raise

    def _checked_scan(self, warn: float) -> bool:
        # _scan(), but a bug in it is logged (once) instead of killing the
        # thread unseen; a failed scan counts as one that saw a waiter.
        try:
            return self._scan(warn)
        except Exception:
            self.errors += 1
            if self.errors == 1:
                LOG.exception(
                    'fastlock slow-wait watchdog: a scan failed; it goes on '
                    'scanning (later failures are not logged)'
                )
            return True

    def _scan(self, warn: float) -> bool:
        # Warn about long waits; return whether anybody waits.
        with self._guard:
            cores = list(self._cores)
        waiting = set()
        for core in cores:
            for _registry, sem in core._active_locks():
                holders, waiters, _ = core._lock_info(sem)
                for token, _glet, _thread, waited in waiters:
                    waiting.add(token)
                    if warn and waited >= warn and token not in self._warned:
                        self._warned.add(token)
                        self._log(sem, holders, waiters, waited)
        self._warned &= waiting
        return bool(waiting)

    def _log(self, sem: Any, holders: list[Any], waiters: list[Any],
             waited: float) -> None:
        try:
            held = _holders(sem, holders)
            by = ', '.join(
                '%s for %.3fs' % (_who(h), h.held_seconds) for h in held
            ) or 'nobody (being handed over)'
        except Exception:  # a frame or thread gone meanwhile
            by = 'unknown'
        LOG.warning(
            'Lock "%(name)s" still not acquired after waiting %(waited)0.3fs;'
            ' held by %(holders)s; %(waiters)d waiting',
            {'name': sem.name, 'waited': waited, 'holders': by,
             'waiters': len(waiters)},
        )


def _core_of(sem: Any) -> ModuleType:
    # The core whose Semaphore *sem* is: registry semaphores are of a
    # subclass made in lockutils (also a threading.Semaphore), or of any
    # Registry(semaphore_type=...), so look along the MRO.
    for cls in type(sem).__mro__:
        module = sys.modules.get(cls.__module__)
        if module is not None and hasattr(module, '_lock_info'):
            return module
    raise TypeError('not a fastlock semaphore: %r' % (sem,))


_watchdog = _Watchdog()


def _after_fork_in_child() -> None:
    # The watchdog thread (and any holder of its guard) did not survive.
    global _watchdog
    warn_seconds = _watchdog.warn_seconds
    _watchdog = _Watchdog()
    _watchdog.warn_seconds = warn_seconds
    core = getattr(_facade, 'core', None)
    if core is not None:
        core._set_wait_hook(_watchdog.watch)


os.register_at_fork(after_in_child=_after_fork_in_child)


# -- oslo.reports -----------------------------------------------------------


class LockTableView:
    """A Guru Meditation Report section generator: the lock table.

    Registered as the "Locks" section when oslo.reports is importable.
    """

    def __call__(self) -> str:
        try:
            return '\n'.join(format_table(lock_table()))
        except Exception as exc:  # the report goes on without this section
            return 'Lock table unavailable: %s' % (exc,)


_GMR = 'oslo_reports.guru_meditation_report'


def _register_section(gmr: ModuleType) -> None:
    sections = getattr(gmr.TextGuruMeditation, 'persistent_sections', [])
    if not any(isinstance(g, LockTableView) for _, g in sections):
        gmr.TextGuruMeditation.register_section('Locks', LockTableView())


class _OnGuruImport(importlib.abc.MetaPathFinder):
    """Registers the section when oslo.reports' Guru Meditation module is
    imported, so that fastlock itself never imports oslo.reports."""

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Any:
        if fullname != _GMR:
            return None
        sys.meta_path.remove(self)  # once; the lookup below asks us again
        spec = importlib.util.find_spec(fullname)
        if spec is not None and spec.loader is not None:
            loader = spec.loader
            exec_module = loader.exec_module

            def exec_and_register(module: ModuleType) -> None:
                exec_module(module)
                _register_section(module)

            loader.exec_module = exec_and_register  # type: ignore[method-assign]
        return spec


def register_guru_section() -> None:
    """Add the lock table to oslo.reports' Guru Meditation Report (the
    report OpenStack services print on SIGUSR2) as the "Locks" section:
    now if oslo.reports' module is loaded, else when it is imported."""
    gmr = sys.modules.get(_GMR)
    if gmr is not None:
        _register_section(gmr)
    elif not any(isinstance(f, _OnGuruImport) for f in sys.meta_path):
        sys.meta_path.insert(0, _OnGuruImport())
