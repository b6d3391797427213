"""``fastlock-holders [LOCK_PATH]``: which processes hold, and which wait
for, the lock files in a lock directory (Linux).

Also ``python -m fastlock.holders``.  Without ``LOCK_PATH`` it reads the
configured ``[oslo_concurrency] lock_path`` (default ``OSLO_LOCK_PATH``).

Where the answers come from:

* ``/proc/locks`` lists every record lock with the device and inode of its
  file, and the requests blocked on it (``->`` lines).  The device is the
  file system's, as ``/proc/self/mountinfo`` gives it for the lock
  directory; ``stat()`` reports another one on btrfs subvolumes.  The
  ``lockf`` locks of oslo.concurrency and fasteners (and fastlock's
  classic ``F_SETLK`` fallback) show the PID of their process, holders and
  waiters alike.
* fastlock's OFD locks (``OFDLCK``) belong to an open file description,
  not a process, and show PID -1.  As util-linux ``lslocks`` does, a
  holder is found through ``/proc/PID/fdinfo/FD``, which lists the locks
  held through that descriptor (``lock:`` lines).
* fdinfo does not list blocked requests (checked on Linux 6.18), so an OFD
  waiter is found as a thread whose ``/proc/PID/task/TID/syscall`` shows
  it blocked in ``fcntl(FD, F_OFD_SETLKW, ...)`` on a descriptor of the
  lock file.  This covers fastlock's helper threads too.

Reading another user's fdinfo and syscall files needs root (ptrace
access): what could not be seen is counted (``unseen_holders``,
``unseen_waiters``) and said on stderr.  The tables are read one after the
other, not atomically: a lock that changes hands meanwhile may show
either side.  Threads of one process waiting for each other in-process
(fastlock excludes them before the kernel lock) are not kernel waiters and
are not listed.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import sys
from collections.abc import Iterable, Iterator, Sequence
from typing import NamedTuple, TextIO

PROC = '/proc'

# (major, minor, inode) as /proc/locks writes the file: %x:%x:%lu
_Key = tuple[int, int, int]

_F_OFD_SETLKW = 38  # linux/fcntl.h; the same on every architecture
# fcntl (and fcntl64) system call numbers; elsewhere only the arguments
# are checked.
_FCNTL_SYSCALLS = {
    'x86_64': {72},
    'aarch64': {25},
    'riscv64': {25},
    'loongarch64': {25},
    'ppc64le': {55},
    'ppc64': {55},
    's390x': {55},
    'i686': {55, 221},
    'i386': {55, 221},
    'armv7l': {55, 221},
}.get(platform.machine())


class Process(NamedTuple):
    """A process holding or waiting for a lock."""

    pid: int
    cmdline: str


@dataclasses.dataclass
class LockInfo:
    """One lock file that is held or waited on.

    ``holders`` and ``waiters`` are the processes found; ``unseen_holders``
    and ``unseen_waiters`` count the locks and blocked requests in
    ``/proc/locks`` whose process could not be found (another user's, or
    gone meanwhile).
    """

    name: str
    path: str
    holders: list[Process] = dataclasses.field(default_factory=list)
    waiters: list[Process] = dataclasses.field(default_factory=list)
    unseen_holders: int = 0
    unseen_waiters: int = 0

    def as_dict(self) -> dict[str, object]:
        """The ``--json`` form of this record."""
        return {
            'name': self.name,
            'path': self.path,
            'holders': [p._asdict() for p in self.holders],
            'waiters': [p._asdict() for p in self.waiters],
            'unseen_holders': self.unseen_holders,
            'unseen_waiters': self.unseen_waiters,
        }


@dataclasses.dataclass
class Snapshot:
    """What :func:`snapshot` found: the locks, sorted by name, and the
    PIDs of processes whose descriptors or threads could not be read
    (permission denied)."""

    locks: list[LockInfo]
    denied: set[int]

    @property
    def complete(self) -> bool:
        """Whether every lock and blocked request was traced to a
        process."""
        return not any(
            lock.unseen_holders or lock.unseen_waiters for lock in self.locks
        )


class _Entry(NamedTuple):
    # One line of /proc/locks (or a lock: line of fdinfo).
    blocked: bool
    kind: str
    pid: int
    key: _Key


def _parse_lock_line(line: str) -> _Entry | None:
    # "1: POSIX  ADVISORY  WRITE 1234 fe:00:2172774 0 EOF", blocked
    # requests with one "->" after the id ("2:  -> OFDLCK ..."); lines of
    # another form (no inode) give None.
    fields = line.split()
    blocked = len(fields) > 1 and fields[1] == '->'
    if blocked:
        del fields[1]
    if len(fields) != 8:
        return None
    try:
        major, minor, inode = fields[5].split(':')
        key = (int(major, 16), int(minor, 16), int(inode))
        pid = int(fields[4])
    except ValueError:
        return None
    return _Entry(blocked, fields[1], pid, key)


def _read(path: str) -> str:
    with open(path, encoding='utf-8', errors='replace') as f:
        return f.read()


def _listdir(path: str) -> list[str]:
    return os.listdir(path)


def _pids(proc: str) -> Iterator[int]:
    for name in _listdir(proc):
        if name.isdigit():
            yield int(name)


def cmdline(pid: int, proc: str = PROC) -> str:
    """The command line of *pid*, its arguments separated by spaces;
    ``[comm]`` when it has none, ``?`` when it is gone or hidden."""
    try:
        args = _read(f'{proc}/{pid}/cmdline').split('\0')
        if args and args[-1] == '':
            args.pop()
        if args:
            return ' '.join(args)
        return '[%s]' % _read(f'{proc}/{pid}/comm').strip()
    except OSError:
        return '?'


def _superblock_device(lock_path: str, proc: str) -> tuple[int, int]:
    # The device /proc/locks names the files of *lock_path* by: their
    # superblock's, which mountinfo gives.  stat() may say another (a
    # btrfs subvolume reports its own).
    fd = os.open(lock_path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        st = os.fstat(fd)
        info = _read(f'{proc}/self/fdinfo/{fd}')
    finally:
        os.close(fd)
    mnt_ids = [line.split()[1] for line in info.splitlines()
               if line.startswith('mnt_id:')]
    if mnt_ids:
        for line in _read(f'{proc}/self/mountinfo').splitlines():
            fields = line.split()
            if fields[0] == mnt_ids[0]:
                major, minor = fields[2].split(':')
                return int(major), int(minor)
    return os.major(st.st_dev), os.minor(st.st_dev)  # before Linux 3.15


class _Files(NamedTuple):
    paths: dict[_Key, str]  # by the key /proc/locks gives
    keys: dict[tuple[int, int], _Key]  # by stat()'s (st_dev, st_ino)


def _lock_files(lock_path: str, proc: str) -> _Files:
    dir_dev = os.stat(lock_path).st_dev
    major, minor = _superblock_device(lock_path, proc)
    files = _Files({}, {})
    with os.scandir(lock_path) as entries:
        for entry in entries:
            try:
                if not entry.is_file(follow_symlinks=False):
                    continue
                st = entry.stat(follow_symlinks=False)
            except FileNotFoundError:  # removed meanwhile
                continue
            if st.st_dev == dir_dev:
                key = (major, minor, st.st_ino)
            else:  # a file mounted over
                key = (os.major(st.st_dev), os.minor(st.st_dev), st.st_ino)
            files.paths[key] = entry.path
            files.keys[st.st_dev, st.st_ino] = key
    return files


def _listed(
    proc: str, entry: str, denied: set[int]
) -> Iterator[tuple[int, list[str]]]:
    # (pid, names in /proc/PID/<entry>) for every process whose <entry>
    # can be listed; a PID we may not look into goes to *denied*.
    for pid in _pids(proc):
        try:
            names = _listdir(f'{proc}/{pid}/{entry}')
        except PermissionError:
            denied.add(pid)
            continue
        except OSError:  # gone
            continue
        yield pid, names


def _ofd_holders(
    keys: set[_Key], proc: str, denied: set[int]
) -> dict[_Key, set[int]]:
    # PIDs with a descriptor through which an OFD lock on one of *keys* is
    # held, as lslocks finds them.
    found: dict[_Key, set[int]] = {}
    for pid, fds in _listed(proc, 'fdinfo', denied):
        for fd in fds:
            try:
                info = _read(f'{proc}/{pid}/fdinfo/{fd}')
            except PermissionError:
                denied.add(pid)
                break
            except OSError:  # closed meanwhile
                continue
            for line in info.splitlines():
                if not line.startswith('lock:'):
                    continue
                entry = _parse_lock_line(line[5:])
                if entry and entry.kind == 'OFDLCK' and entry.key in keys:
                    found.setdefault(entry.key, set()).add(pid)
    return found


def _blocked_fd(syscall: str) -> int | None:
    # The descriptor of "fcntl(fd, F_OFD_SETLKW, ...)" in a
    # /proc/PID/task/TID/syscall line ("72 0x3 0x26 ..."), else None
    # ("running", another call).
    fields = syscall.split()
    if len(fields) < 3 or not fields[0].isdigit():
        return None
    if _FCNTL_SYSCALLS is not None and int(fields[0]) not in _FCNTL_SYSCALLS:
        return None
    try:
        if int(fields[2], 16) != _F_OFD_SETLKW:
            return None
        return int(fields[1], 16)
    except ValueError:
        return None


def _ofd_waiters(
    keys: set[_Key], files: _Files, proc: str, denied: set[int]
) -> dict[_Key, list[int]]:
    # For each key, one PID per thread blocked in F_OFD_SETLKW on it.
    found: dict[_Key, list[int]] = {}
    for pid, tids in _listed(proc, 'task', denied):
        for tid in tids:
            try:
                fd = _blocked_fd(_read(f'{proc}/{pid}/task/{tid}/syscall'))
                if fd is None:
                    continue
                st = os.stat(f'{proc}/{pid}/fd/{fd}')
            except PermissionError:
                denied.add(pid)
                break
            except OSError:  # gone, or the call returned meanwhile
                continue
            key = files.keys.get((st.st_dev, st.st_ino))
            if key in keys:
                found.setdefault(key, []).append(pid)
    return found


def _unique(pids: Iterable[int], proc: str) -> list[Process]:
    return [Process(pid, cmdline(pid, proc)) for pid in sorted(set(pids))]


def snapshot(lock_path: str, proc: str = PROC) -> Snapshot:
    """Return the lock files in the directory *lock_path* that are held or
    waited on, with the processes holding and waiting for them (each list
    sorted by PID; paths absolute).

    :param lock_path: the lock directory (``[oslo_concurrency] lock_path``)
    :param proc: where procfs is mounted
    :raises OSError: when *lock_path* or ``/proc/locks`` cannot be read
    """
    files = _lock_files(os.path.abspath(lock_path), proc)
    entries = [
        entry for entry in map(_parse_lock_line,
                               _read(f'{proc}/locks').splitlines())
        if entry is not None and entry.key in files.paths
    ]
    denied: set[int] = set()
    ofd_held = {e.key for e in entries if e.pid == -1 and not e.blocked}
    ofd_waited = {e.key for e in entries if e.pid == -1 and e.blocked}
    holders = _ofd_holders(ofd_held, proc, denied) if ofd_held else {}
    waiters = (_ofd_waiters(ofd_waited, files, proc, denied)
               if ofd_waited else {})

    locks = []
    for key in {e.key for e in entries}:
        mine = [e for e in entries if e.key == key]
        ofd_holders = holders.get(key, set())
        ofd_waiters = waiters.get(key, [])
        n_ofd_held = sum(e.pid == -1 and not e.blocked for e in mine)
        n_ofd_waiting = sum(e.pid == -1 and e.blocked for e in mine)
        path = files.paths[key]
        locks.append(LockInfo(
            name=os.path.basename(path),
            path=path,
            holders=_unique([e.pid for e in mine
                             if e.pid > 0 and not e.blocked]
                            + list(ofd_holders), proc),
            waiters=_unique([e.pid for e in mine if e.pid > 0 and e.blocked]
                            + ofd_waiters, proc),
            # A shared description can show more holders than locks.
            unseen_holders=max(0, n_ofd_held - len(ofd_holders)),
            unseen_waiters=max(0, n_ofd_waiting - len(ofd_waiters)),
        ))
    locks.sort(key=lambda lock: lock.name)
    return Snapshot(locks, denied)


# Control characters (a "python -c" script's newlines, a hostile file
# name) would break the table's rows: shown escaped instead, and
# backslashes doubled so that the escapes are unambiguous.
_ESCAPES = {c: repr(chr(c))[1:-1] for c in [*range(32), 92, 127]}


def _shown(text: str) -> str:
    # *text* escaped for one line of output: control characters and
    # backslashes as above, and the bytes of a file name that are not
    # UTF-8 (kept by os.fsdecode as lone surrogates, which a strict
    # stdout cannot encode) as \xNN.
    escaped = text.translate(_ESCAPES).encode('utf-8', 'surrogateescape')
    return escaped.decode('utf-8', 'backslashreplace')


def _table(locks: Sequence[LockInfo], out: TextIO) -> None:
    rows = [('LOCK', 'ROLE', 'PID', 'COMMAND')]
    for lock in locks:
        name = _shown(lock.name)
        for role, procs, unseen in (
            ('holder', lock.holders, lock.unseen_holders),
            ('waiter', lock.waiters, lock.unseen_waiters),
        ):
            for p in procs:
                rows.append((name, role, str(p.pid),
                             _shown(p.cmdline)))
                name = ''
            if unseen:
                rows.append((name, role, '?', '(%d not visible)' % unseen))
                name = ''
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    for row in rows:
        out.write('%-*s  %-*s  %*s  %s\n' % (
            widths[0], row[0], widths[1], row[1], widths[2], row[2], row[3]))


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``fastlock-holders``; returns the exit status (0, or
    2 for a missing or unreadable lock path)."""
    parser = argparse.ArgumentParser(
        prog='fastlock-holders',
        description='List the lock files in LOCK_PATH that are held or '
        'waited on, with the PID and command line of each process '
        'holding or waiting for them (fastlock OFD locks and the lockf '
        'locks of oslo.concurrency and fasteners; Linux /proc).',
    )
    parser.add_argument(
        'lock_path', nargs='?', metavar='LOCK_PATH',
        help='lock directory (default: [oslo_concurrency] lock_path, '
        'i.e. $OSLO_LOCK_PATH)',
    )
    parser.add_argument(
        '--json', action='store_true',
        help='print a JSON list of {"name", "path", "holders", "waiters", '
        '"unseen_holders", "unseen_waiters"}, each process as '
        '{"pid", "cmdline"}',
    )
    args = parser.parse_args(argv)
    lock_path = args.lock_path
    if not lock_path:
        from fastlock import lockutils

        lock_path = lockutils.get_lock_path(lockutils.CONF)
    if not lock_path:
        parser.error('no LOCK_PATH given and no lock_path configured '
                     '(set OSLO_LOCK_PATH)')
    try:
        snap = snapshot(lock_path)
    except OSError as exc:
        print('fastlock-holders: %s' % exc, file=sys.stderr)
        return 2
    if args.json:
        json.dump([lock.as_dict() for lock in snap.locks], sys.stdout,
                  indent=2)
        sys.stdout.write('\n')
    elif snap.locks:
        _table(snap.locks, sys.stdout)
    else:
        print('no lock in %s is held or waited on' % _shown(lock_path))
    if not snap.complete:
        if snap.denied:
            why = ('permission denied reading /proc/PID/fdinfo or '
                   '/proc/PID/task of %d process(es) of other users; run '
                   'as root or as their user to see them' % len(snap.denied))
        elif os.geteuid() != 0:
            why = ('their processes are hidden from this user (/proc '
                   'mounted with hidepid?) or exited meanwhile; run as root')
        else:
            why = ('they exited or changed while looked up (run again), '
                   'or run in another PID namespace')
        print('fastlock-holders: some holders or waiters are not listed: '
              + why, file=sys.stderr)
    return 0


if __name__ == '__main__':
    sys.exit(main())
