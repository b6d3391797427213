"""Opt-in lock-order checking, in the spirit of the Linux kernel's lockdep.

Off by default.  When on, every blocking acquisition of a named lock
(``lock()``, ``synchronized``, ``internal_lock``, the in-process part of
external locks, fair locks, ``Semaphores``) made while the same thread or
green thread holds other named locks records an edge *held* -> *new*
between lock classes.  A new edge that closes a cycle is a possible
deadlock, found the first time both orders are seen, even if they never
overlapped in time.  Waits are watched too: a wait that would close a
cycle of threads waiting for each other right now is an actual deadlock.

The compiled core and its twin call the hook installed here through
``_set_lock_order``; with checking off there is none, and the acquire path
pays one pointer test.  Public names are re-exported by :mod:`fastlock`
and :mod:`fastlock.lockutils`.
"""

from __future__ import annotations

import logging
import os
import re
import sys
import threading
import warnings
from collections.abc import Callable, Hashable
from types import FrameType, ModuleType
from typing import Any

import greenlet

import fastlock._core  # noqa: F401  (the selected core, to install into)

__all__ = [
    "LockOrderError", "LockOrderWarning", "default_lock_class",
    "set_lock_order_checking",
]

LOG = logging.getLogger("fastlock.lockorder")

_MODES = (None, "warn", "raise")
_CORES = ("fastlock._core_c", "fastlock._core_py")
_HERE = os.path.dirname(os.path.abspath(__file__)) + os.sep
_CONTEXTLIB = os.path.join("", "contextlib.py")
_STACK_FRAMES = 4
# Beyond these the graph stops growing (lockdep has 8192 classes): names
# that never repeat, e.g. per-object ones with a classifier that keeps
# them apart, would otherwise grow it without bound.
_MAX_CLASSES = 8192
_MAX_EDGES = 65536
_MAX_CACHED_NAMES = 65536

_getcurrent = greenlet.getcurrent


class LockOrderWarning(RuntimeWarning):
    """Lock-order checking in ``'warn'`` mode found a possible deadlock."""


class LockOrderError(RuntimeError):
    """Lock-order checking in ``'raise'`` mode refused an acquisition.

    Raised by the acquisition that would close a cycle of lock classes,
    or that would wait forever, before it acquires or waits for anything.
    """


_UUID = re.compile(
    r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.I
)


def default_lock_class(name: Hashable) -> Hashable:
    """The lock class of *name* unless ``classify`` says otherwise: the
    name with every UUID in it replaced by ``<uuid>``.

    Per-object locks such as ``instance-<uuid>`` (how OpenStack projects
    name them) then form one class per kind of object, so an order
    problem between two code paths is found whichever objects they lock,
    and the graph stays as small as the code.  Nothing else is merged: a
    UUID is never part of a hand-written name, whereas digits often are
    (``pool1``, ``pool2``), and locks of one class are never checked
    against each other (see :func:`set_lock_order_checking`).  Names that
    are not strings are their own class.

    :param name: a lock name.
    """
    if isinstance(name, str):
        return _UUID.sub("<uuid>", name)
    return name


def _short_stack(frame: FrameType | None) -> tuple[str, ...]:
    # The innermost few frames outside fastlock (and contextlib, which
    # synchronized-style decorators go through), as "file:line in func".
    lines: list[str] = []
    while frame is not None and len(lines) < _STACK_FRAMES:
        filename = frame.f_code.co_filename
        if not filename.startswith(_HERE) and not filename.endswith(_CONTEXTLIB):
            lines.append(
                "%s:%d in %s" % (filename, frame.f_lineno, frame.f_code.co_name)
            )
        frame = frame.f_back
    return tuple(lines)


def _describe(thread: threading.Thread, glet: Any) -> str:
    if glet.parent is None:
        return "thread %r" % thread.name
    return "green thread %#x in %r" % (id(glet), thread.name)


class _Edge:
    """The first acquisition seen in one order: *new* taken holding *held*."""

    __slots__ = ("held", "new", "who", "stack")

    def __init__(self, held: Hashable, new: Hashable, who: str,
                 stack: tuple[str, ...]) -> None:
        self.held = held
        self.new = new
        self.who = who
        self.stack = stack


class _Wait:
    """A (green) thread blocked on a named lock, while it is."""

    __slots__ = ("name", "owners", "thread", "glet", "frame")

    def __init__(self, name: Hashable, owners: list[Any],
                 thread: threading.Thread, glet: Any,
                 frame: FrameType | None) -> None:
        self.name = name
        self.owners = owners  # the semaphore's own list: live
        self.thread = thread
        self.glet = glet
        self.frame = frame


class _Checker:
    """The lock-class graph and the table of current waits."""

    def __init__(
        self, mode: str, classify: Callable[[Hashable], Hashable]
    ) -> None:
        from fastlock._rwlock import _native_lock  # not at import: a cycle

        self.mode = mode
        self.classify = classify
        # Taken only around pure bookkeeping (nothing that can switch
        # green threads), from the unpatched _thread module.
        self.guard = _native_lock()
        self.classes: dict[Hashable, Hashable] = {}  # name -> class cache
        self.after: dict[Hashable, dict[Hashable, _Edge]] = {}
        self.nodes: set[Hashable] = set()
        self.edges = 0
        self.full = False
        self.waits: dict[Any, _Wait] = {}
        # greenlet -> the name it holds and is acquiring again, between
        # the two hooks of that acquisition
        self.again: dict[Any, Hashable] = {}

    def class_of(self, name: Hashable) -> Hashable:
        classes = self.classes
        try:
            return classes[name]
        except KeyError:
            pass
        cls = self.classify(name)
        hash(cls)  # fail here, clearly, not deep in the graph
        if len(classes) >= _MAX_CACHED_NAMES:
            classes.clear()
        classes[name] = cls
        return cls

    # -- order ---------------------------------------------------------------

    def check_order(self, name: Hashable, held: list[Any]) -> None:
        """Record the edges from *held* to *name*; report a new cycle."""
        new = self.class_of(name)
        after = self.after
        fresh = None
        for held_name in held:
            cls = self.class_of(held_name)
            # Locks of one class nest in an order that depends on data
            # (two instance locks): never an order problem; an actual
            # deadlock between them is still caught when it happens.
            if cls == new:
                continue
            known = after.get(cls)
            if known is None or new not in known:
                if fresh is None:
                    fresh = []
                fresh.append((held_name, cls))
        if fresh is not None:
            self._add_edges(name, new, fresh)

    def _add_edges(self, name: Hashable, new: Hashable,
                   fresh: list[tuple[Any, Hashable]]) -> None:
        glet = _getcurrent()
        who = _describe(threading.current_thread(), glet)
        stack = _short_stack(sys._getframe(1))
        cycles = []
        with self.guard:
            edges = []
            for held_name, cls in fresh:
                if new in self.after.get(cls, ()):
                    continue  # another thread was first
                edge = _Edge(held_name, name, who, stack)
                path = self._path(new, cls)
                if path is not None:
                    cycles.append((cls, edge, path))
                edges.append((cls, edge))
            if not (cycles and self.mode == "raise"):
                for cls, edge in edges:
                    self._add_edge(cls, new, edge)
        for cls, edge, path in cycles:
            self._report(_cycle_message(self, cls, new, edge, path))

    def _path(self, start: Hashable, goal: Hashable) -> list[_Edge] | None:
        # Edges of a shortest path start -> ... -> goal, or None.
        after = self.after
        came: dict[Hashable, tuple[Hashable, _Edge]] = {}
        todo = [start]
        while todo:
            following = []
            for cls in todo:
                for nxt, edge in after.get(cls, {}).items():
                    if nxt in came or nxt == start:
                        continue
                    came[nxt] = (cls, edge)
                    if nxt == goal:
                        path = []
                        while nxt != start:
                            nxt, edge = came[nxt]
                            path.append(edge)
                        path.reverse()
                        return path
                    following.append(nxt)
            todo = following
        return None

    def _add_edge(self, cls: Hashable, new: Hashable, edge: _Edge) -> None:
        nodes = self.nodes
        grows = (cls not in nodes) + (new not in nodes)
        if len(nodes) + grows > _MAX_CLASSES or self.edges >= _MAX_EDGES:
            if not self.full:
                self.full = True
                LOG.warning(
                    "Lock-order graph full (%d lock classes, %d orders): "
                    "new ones are no longer checked; map lock names to "
                    "fewer classes with classify=", len(nodes), self.edges,
                )
            return
        nodes.add(cls)
        nodes.add(new)
        self.after.setdefault(cls, {})[new] = edge
        self.edges += 1

    # -- waits ---------------------------------------------------------------

    def waiting(self, name: Hashable, owners: list[Any],
                timeout: float | None) -> None:
        """Refuse (or report) a wait that closes a cycle of waits."""
        glet = _getcurrent()
        again = self.again.pop(glet, None) if self.again else None
        if timeout is not None:
            return  # it ends by itself: never part of a deadlock
        wait = _Wait(name, owners, threading.current_thread(), glet,
                     sys._getframe(1))
        with self.guard:
            chain = self._wait_cycle(wait, again == name)
            if chain is None or self.mode != "raise":
                self.waits[glet] = wait
        if chain is not None:
            self._report(_deadlock_message(chain))

    def _wait_cycle(self, wait: _Wait, again: bool) -> list[_Wait] | None:
        # Called under the guard.  While we hold it, a thread in
        # self.waits cannot return from its wait (woken() takes the
        # guard), so it releases nothing: the owners seen stay owners.
        me = wait.glet
        chain = [wait]
        seen = {me}
        while True:
            owners = list(wait.owners)
            if len(owners) != 1:
                return None  # free, or a counting semaphore: not a mutex
            holder = owners[0]
            if holder is me:
                # Ours already at the first step: handed to us meanwhile,
                # unless we held it before this acquisition.
                return chain if again or len(chain) > 1 else None
            if holder in seen:
                return None  # others' cycle, reported when it closed
            seen.add(holder)
            found = self.waits.get(holder)
            if found is None:
                return None
            wait = found
            chain.append(wait)

    def woken(self) -> None:
        """The wait reported by :meth:`waiting` is over."""
        glet = _getcurrent()
        # Only the waiter removes its entry: no race with this test.
        if glet in self.waits:
            with self.guard:
                del self.waits[glet]

    def reacquiring(self, name: Hashable) -> None:
        # A blocking acquisition of a lock the caller holds: a wait for
        # itself, if it comes to waiting.
        self.again[_getcurrent()] = name

    # -- reporting -------------------------------------------------------------

    def _report(self, message: str) -> None:
        if self.mode == "raise":
            raise LockOrderError(message)
        LOG.warning("%s", message)
        frame: FrameType | None = sys._getframe(1)
        while frame is not None and frame.f_code.co_filename.startswith(_HERE):
            frame = frame.f_back
        if frame is None:  # pragma: no cover - always called from user code
            warnings.warn(message, LockOrderWarning, stacklevel=2)
            return
        warnings.warn_explicit(
            message, LockOrderWarning, frame.f_code.co_filename,
            frame.f_lineno, module=frame.f_globals.get("__name__"),
            module_globals=frame.f_globals,
        )


def _lock_label(checker: _Checker, name: Hashable) -> str:
    cls = checker.class_of(name)
    if cls == name:
        return repr(name)
    return "%r (class %r)" % (name, cls)


def _cycle_message(checker: _Checker, cls: Hashable, new: Hashable,
                   edge: _Edge, path: list[_Edge]) -> str:
    # The cycle in class terms, then every edge with where it was seen.
    cycle = [cls, new] + [checker.class_of(e.new) for e in path]
    lines = [
        "Possible deadlock (lock order): acquiring %s while holding %s "
        "closes the cycle %s" % (
            _lock_label(checker, edge.new), _lock_label(checker, edge.held),
            " -> ".join(repr(c) for c in cycle),
        )
    ]
    for e, when in [(edge, "this acquisition,")] + [
            (e, "first seen") for e in path]:
        lines.append("  %s -> %s %s in %s at:" % (
            _lock_label(checker, e.held), _lock_label(checker, e.new), when,
            e.who,
        ))
        lines.extend("    " + line for line in e.stack or ("<unknown>",))
    return "\n".join(lines)


def _deadlock_message(chain: list[_Wait]) -> str:
    def who(wait: _Wait) -> str:
        return _describe(wait.thread, wait.glet)

    lines = ["Deadlock: %s would wait forever for %r:" % (
        who(chain[0]), chain[0].name)]
    for i, wait in enumerate(chain):
        holder = chain[(i + 1) % len(chain)]
        lines.append("  %s waits for %r, held by %s%s" % (
            who(wait), wait.name, who(holder),
            "" if i else " (this acquisition)",
        ))
        if i:
            lines.extend(
                "    " + line for line in _short_stack(wait.frame))
    return "\n".join(lines)


class _Hook:
    """What one core calls: the checker, with that core's held list."""

    __slots__ = ("_checker", "_held_locks", "waiting", "woken")

    def __init__(self, checker: _Checker, core: ModuleType) -> None:
        self._checker = checker
        self._held_locks = core.held_locks
        self.waiting = checker.waiting
        self.woken = checker.woken

    def acquiring(self, name: Hashable, blocking: bool) -> None:
        # A non-blocking try cannot deadlock: it records nothing (as
        # lockdep's trylock), though the lock counts as held afterwards.
        if not blocking:
            return
        held = self._held_locks()
        if self._checker.again:
            self._checker.again.pop(_getcurrent(), None)  # a stale one
        if held:
            if name in held:
                self._checker.reacquiring(name)
            self._checker.check_order(name, held)


checker: _Checker | None = None


def set_lock_order_checking(
    mode: str | None,
    classify: Callable[[Hashable], Hashable] | None = None,
) -> str | None:
    """Turn lock-order checking on or off; return the previous mode.

    When on, each blocking acquisition of a named lock made while the
    same thread (or green thread) holds other named locks records, for
    each of them, the order *held* -> *new* between their lock classes.
    An order that closes a cycle (``A`` -> ``B`` seen once, ``B`` -> ``A``
    now, or over any number of locks) is a possible deadlock, reported
    the first time both orders are seen, even if they never overlapped in
    time.  A wait that would close a cycle of threads waiting for each
    other right now is an actual deadlock, and is reported too.

    A non-blocking acquisition records no order (it cannot deadlock) and
    a wait with a timeout is never a deadlock (it ends).  External locks
    are checked through their in-process part; re-entering an external
    lock you hold (``InterProcessLock``) is not an acquisition.  Checking
    assumes that locks are released by the thread that took them.

    Locks of one class are never checked against each other: nesting two
    per-object locks (``instance-<uuid>``) comes in an order that depends
    on data, so the graph cannot judge it; an actual deadlock between
    them is still caught when it happens.  A reader group of a fair lock
    counts as held by the reader that started it, until the group ends.

    Every call starts afresh: what was recorded before is forgotten.  The
    environment variable ``FASTLOCK_LOCK_ORDER=warn|raise`` calls this at
    ``import fastlock``, and the pytest plugin's
    ``--fastlock-lock-order=warn|raise`` at the start of a test run.

    :param mode: ``None`` (off, the default), ``'warn'`` (log a WARNING on
        logger ``fastlock.lockorder`` and issue a :class:`LockOrderWarning`,
        once per new cycle) or ``'raise'`` (raise :class:`LockOrderError`
        from the acquisition, before it blocks, with nothing acquired by
        it; the next attempt is refused again).
    :param classify: maps a lock name to its lock class (any hashable);
        ``None`` means :func:`default_lock_class`, which gives the
        per-object locks of one kind one class.  Pass ``lambda name:
        name`` for one class per name.

    Usage::

        from fastlock import lockutils

        lockutils.set_lock_order_checking('raise')
    """
    global checker
    if mode not in _MODES:
        raise ValueError(
            "lock-order checking mode must be None, 'warn' or 'raise', "
            "not %r" % (mode,)
        )
    if classify is None:
        classify = default_lock_class
    elif not callable(classify):
        raise TypeError(
            "classify must be callable, not %s" % type(classify).__name__)
    previous = None if checker is None else checker.mode
    checker = None if mode is None else _Checker(mode, classify)
    for core_name in _CORES:
        core = sys.modules.get(core_name)
        if core is not None:
            _install(core)
    return previous


def _install(core: ModuleType) -> None:
    # Give *core* the current checker's hook (or none); lockutils calls
    # this for a core it binds to, which may have been imported since.
    core._set_lock_order(None if checker is None else _Hook(checker, core))


def before_acquire(core: ModuleType, name: Hashable) -> None:
    """For acquisitions that begin with a non-blocking try (fair locks):
    check the order as the blocking acquisition it stands for."""
    if checker is not None:
        held = core.held_locks()
        if held:
            checker.check_order(name, held)


def _from_environment() -> None:
    value = os.environ.get("FASTLOCK_LOCK_ORDER", "").strip().lower()
    if value in ("", "off", "none", "0"):
        return
    if value not in _MODES:
        raise ValueError(
            "FASTLOCK_LOCK_ORDER must be 'warn' or 'raise', not %r"
            % os.environ["FASTLOCK_LOCK_ORDER"]
        )
    set_lock_order_checking(value)


def _after_fork_in_child() -> None:
    # The guard may have been held by a vanished thread, whose waits are
    # over too; the waits of this thread's green threads go on.
    if checker is None:
        return
    from fastlock._rwlock import _native_lock

    checker.guard = _native_lock()
    root = _root(_getcurrent())
    checker.waits = {
        g: w for g, w in checker.waits.items() if _root(g) is root}
    checker.again.clear()


def _root(glet: Any) -> Any:
    while glet.parent is not None:
        glet = glet.parent
    return glet


os.register_at_fork(after_in_child=_after_fork_in_child)
_from_environment()
