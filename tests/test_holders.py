"""``fastlock-holders``: real processes holding and waiting for external
locks (fastlock of both cores, oslo.concurrency), seen through the
command's ``--json`` and plain output, as root and as an unprivileged
user.

Every process is started with a deadline and killed at the end; a waiter
is waited for until the snapshot shows it (or a deadline passes), so a
wrong answer fails the test instead of hanging it.
"""

from __future__ import annotations

import fcntl
import io
import json
import os
import select
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time

import pytest
from _reference import import_oslo

from fastlock import holders, lockutils

pytestmark = pytest.mark.skipif(
    not os.path.exists('/proc/locks'), reason='needs Linux /proc/locks')

LOCKER = textwrap.dedent("""
    import sys, time
    kind, lock_path, name, timeout = sys.argv[1:5]
    if kind == "lockf":  # a blocking lockf(), as classic record locks wait
        import fcntl, os
        fd = os.open(os.path.join(lock_path, name), os.O_RDWR | os.O_CREAT)
        print("trying", flush=True)
        fcntl.lockf(fd, fcntl.LOCK_EX)
        print("locked", flush=True)
        time.sleep(600)
    if kind == "oslo":  # its waiters poll (fasteners): holders only
        from oslo_concurrency import lockutils
        kwargs = {}
    else:
        import fastlock
        from fastlock import lockutils
        assert fastlock.IMPLEMENTATION == kind, fastlock.IMPLEMENTATION
        # with a timeout, a helper thread waits in the kernel
        kwargs = {"timeout": float(timeout)} if timeout != "-" else {}
    print("trying", flush=True)
    with lockutils.lock(name, external=True, lock_path=lock_path, **kwargs):
        print("locked", flush=True)
        time.sleep(600)
""")
DEADLINE = 30


def _env(kind):
    env = dict(os.environ)
    env.pop('FASTLOCK_NO_EXTENSIONS', None)
    if kind == 'py':
        env['FASTLOCK_NO_EXTENSIONS'] = '1'
    return env


def _readline(proc):
    # Byte by byte from the unbuffered pipe, so that select() sees
    # everything not read yet.
    line = b''
    deadline = time.monotonic() + DEADLINE
    while not line.endswith(b'\n'):
        ready, _, _ = select.select(
            [proc.stdout], [], [], max(0, deadline - time.monotonic()))
        assert ready, 'no output from %s' % proc.args
        byte = os.read(proc.stdout.fileno(), 1)
        assert byte, 'exited: %s' % proc.communicate(timeout=DEADLINE)[1]
        line += byte
    return line.decode().strip()


@pytest.fixture
def lockers():
    """``start(kind, lock_path, name, timeout='-', holds=True)`` starts a
    process taking the external lock *name* with core *kind* (``c``,
    ``py``), with oslo.concurrency (``oslo``) or with a blocking ``lockf``
    (``lockf``), and returns its Popen once it holds the lock (*holds*)
    or is about to wait for it.  All are killed afterwards."""
    procs = []

    def start(kind, lock_path, name, timeout='-', holds=True):
        proc = subprocess.Popen(
            [sys.executable, '-c', LOCKER, kind, lock_path, name, timeout],
            env=_env(kind), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            bufsize=0)
        procs.append(proc)
        assert _readline(proc) == 'trying'
        if holds:
            assert _readline(proc) == 'locked'
        return proc

    yield start
    for proc in procs:
        proc.kill()
    for proc in procs:
        proc.communicate(timeout=DEADLINE)


@pytest.fixture
def compiled(request):
    """``c``, or ``py`` in a ``--no-c-extensions`` run."""
    return 'py' if request.config.getoption('--no-c-extensions') else 'c'


def _me(proc):
    return {'pid': proc.pid, 'cmdline': ' '.join(map(str, proc.args))}


def _wait_for_waiters(lock_path, expected):
    # Until every lock in *expected* ({name: n}) shows n waiters, or the
    # deadline: a waiter prints before it blocks.
    deadline = time.monotonic() + DEADLINE
    while time.monotonic() < deadline:
        found = {lock.name: len(lock.waiters) + lock.unseen_waiters
                 for lock in holders.snapshot(lock_path).locks}
        if all(found.get(name) == n for name, n in expected.items()):
            return
        time.sleep(0.05)


def _holders_command(*args, user=None, cwd=None):
    cmd = [sys.executable, '-m', 'fastlock.holders', *args]
    if user is not None:
        cmd = ['setpriv', '--reuid=%d' % user, '--regid=%d' % user,
               '--clear-groups', *cmd]
    return subprocess.run(cmd, capture_output=True, text=True,
                          timeout=DEADLINE, cwd=cwd)


@pytest.fixture
def scene(lockers, lock_path, impl_name, compiled):
    """One lock path with: ``alpha`` held by fastlock (core *impl_name*)
    and waited for by fastlock (the other core) and by a blocking
    ``lockf``; ``beta`` held
    by oslo and waited for by fastlock with a timeout (a helper thread);
    ``idle`` a lock file nobody holds.  Returns the expected ``--json``."""
    import_oslo('oslo_concurrency')
    other = 'py' if impl_name == 'c' else compiled
    with lockutils.lock('idle', external=True, lock_path=lock_path):
        pass
    alpha = lockers(impl_name, lock_path, 'alpha')
    alpha_waiters = [lockers(other, lock_path, 'alpha', holds=False),
                     lockers('lockf', lock_path, 'alpha', holds=False)]
    beta = lockers('oslo', lock_path, 'beta')
    beta_waiter = lockers(impl_name, lock_path, 'beta', timeout='60',
                          holds=False)
    _wait_for_waiters(lock_path, {'alpha': 2, 'beta': 1})
    return [
        {'name': 'alpha', 'path': os.path.join(lock_path, 'alpha'),
         'holders': [_me(alpha)],
         'waiters': sorted(map(_me, alpha_waiters), key=lambda p: p['pid']),
         'unseen_holders': 0, 'unseen_waiters': 0},
        {'name': 'beta', 'path': os.path.join(lock_path, 'beta'),
         'holders': [_me(beta)], 'waiters': [_me(beta_waiter)],
         'unseen_holders': 0, 'unseen_waiters': 0},
    ]


def test_json_names_holders_and_waiters(scene, lock_path):
    result = _holders_command('--json', lock_path)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == scene
    assert result.stderr == ''


def test_plain_table_one_row_per_process(scene, lock_path):
    result = _holders_command(lock_path)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    # The -c script's newlines are escaped, so each process is one row.
    assert len(lines) == 1 + 5, result.stdout
    assert lines[0].split() == ['LOCK', 'ROLE', 'PID', 'COMMAND']
    rows = [line.split(None, 3) for line in lines[1:]]
    assert rows[0][:3] == ['alpha', 'holder', str(scene[0]['holders'][0]
                                                   ['pid'])]
    assert rows[0][3].startswith(sys.executable + ' -c \\nimport sys')
    assert [row[0] for row in rows[1:3]] == ['waiter', 'waiter']
    assert rows[3][:3] == ['beta', 'holder', str(scene[1]['holders'][0]
                                                 ['pid'])]
    assert rows[4][:2] == ['waiter', str(scene[1]['waiters'][0]['pid'])]
    assert 'idle' not in result.stdout


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which('setpriv'),
                    reason='needs root and setpriv to become nobody')
def test_unprivileged_user_is_told_what_it_cannot_see(lockers, compiled):
    import_oslo('oslo_concurrency')
    nobody = 65534
    # A lock directory nobody can read (pytest's tmp_path is root-only).
    lock_path = tempfile.mkdtemp(prefix='fastlock-holders-')
    try:
        os.chmod(lock_path, 0o755)
        probe = _holders_command('--help', user=nobody)
        if probe.returncode != 0:
            pytest.skip('nobody cannot run this Python: ' + probe.stderr)
        lockers(compiled, lock_path, 'ofd')
        lockers('py', lock_path, 'ofd', holds=False)
        oslo = lockers('oslo', lock_path, 'lockf')
        lockf = lockers('lockf', lock_path, 'lockf', holds=False)
        _wait_for_waiters(lock_path, {'ofd': 1, 'lockf': 1})

        result = _holders_command('--json', lock_path, user=nobody)
        assert result.returncode == 0, result.stderr
        # lockf locks show their PID in /proc/locks to anyone; OFD locks
        # need root's look into the holders' descriptors and threads.
        assert json.loads(result.stdout) == [
            {'name': 'lockf', 'path': os.path.join(lock_path, 'lockf'),
             'holders': [_me(oslo)], 'waiters': [_me(lockf)],
             'unseen_holders': 0, 'unseen_waiters': 0},
            {'name': 'ofd', 'path': os.path.join(lock_path, 'ofd'),
             'holders': [], 'waiters': [],
             'unseen_holders': 1, 'unseen_waiters': 1},
        ]
        assert 'permission denied' in result.stderr
        assert 'other users' in result.stderr

        table = _holders_command(lock_path, user=nobody)
        assert '(1 not visible)' in table.stdout
        assert 'permission denied' in table.stderr
    finally:
        shutil.rmtree(lock_path)


def test_permission_errors_are_counted_and_reported(
        lockers, compiled, lock_path, monkeypatch, capsys):
    # The same as above without root: /proc of the two lockers unreadable.
    holder = lockers(compiled, lock_path, 'ofd')
    waiter = lockers('py', lock_path, 'ofd', holds=False)
    _wait_for_waiters(lock_path, {'ofd': 1})
    hidden = ('/proc/%d/' % holder.pid, '/proc/%d/' % waiter.pid)
    real_read, real_listdir = holders._read, holders._listdir

    def deny(real):
        # What needs ptrace access: descriptors and system calls.
        def call(path):
            if path.startswith(hidden) and (
                    '/fdinfo' in path or path.endswith('/syscall')):
                raise PermissionError(13, 'Permission denied', path)
            return real(path)
        return call

    monkeypatch.setattr(holders, '_read', deny(real_read))
    monkeypatch.setattr(holders, '_listdir', deny(real_listdir))

    snap = holders.snapshot(lock_path)
    assert {holder.pid, waiter.pid} <= snap.denied
    assert not snap.complete
    [lock] = snap.locks
    assert (lock.name, lock.holders, lock.waiters) == ('ofd', [], [])
    assert (lock.unseen_holders, lock.unseen_waiters) == (1, 1)

    assert holders.main(['--json', lock_path]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out)[0]['unseen_holders'] == 1
    assert 'permission denied' in err

    monkeypatch.setattr(holders, '_read', real_read)
    monkeypatch.setattr(holders, '_listdir', real_listdir)
    snap = holders.snapshot(lock_path)
    assert snap.complete
    assert snap.locks[0].holders == [holders.Process(
        holder.pid, ' '.join(map(str, holder.args)))]


def test_nothing_held(lock_path):
    with lockutils.lock('idle', external=True, lock_path=lock_path):
        pass
    result = _holders_command('--json', lock_path)
    assert (result.returncode, result.stdout, result.stderr) == (
        0, '[]\n', '')
    result = _holders_command(lock_path)
    assert result.stdout == 'no lock in %s is held or waited on\n' % (
        lock_path)


def test_default_lock_path_is_the_configured_one(
        lockers, compiled, lock_path):
    holder = lockers(compiled, lock_path, 'configured')
    env = dict(os.environ, OSLO_LOCK_PATH=lock_path)
    result = subprocess.run(
        [sys.executable, '-m', 'fastlock.holders', '--json'], env=env,
        capture_output=True, text=True, timeout=DEADLINE)
    assert result.returncode == 0, result.stderr
    assert [lock['holders'] for lock in json.loads(result.stdout)] == [
        [_me(holder)]]


def test_relative_lock_path_gives_absolute_paths(lockers, lock_path):
    lockers('py', lock_path, 'here')
    result = _holders_command('--json', os.path.basename(lock_path),
                              cwd=os.path.dirname(lock_path))
    assert [lock['path'] for lock in json.loads(result.stdout)] == [
        os.path.join(lock_path, 'here')]


def test_no_lock_path_is_a_clear_error():
    env = dict(os.environ)
    env.pop('OSLO_LOCK_PATH', None)
    result = subprocess.run(
        [sys.executable, '-m', 'fastlock.holders'], env=env,
        capture_output=True, text=True, timeout=DEADLINE)
    assert result.returncode == 2
    assert 'no LOCK_PATH given and no lock_path configured' in result.stderr


@pytest.mark.parametrize('make', ['missing', 'file'])
def test_bad_lock_path_is_a_clear_error(tmp_path, make):
    path = tmp_path / 'locks'
    if make == 'file':
        path.write_text('')
    result = _holders_command(str(path))
    assert result.returncode == 2
    assert result.stderr.startswith('fastlock-holders: ')
    assert str(path) in result.stderr


def test_console_script_help():
    script = os.path.join(os.path.dirname(sys.executable), 'fastlock-holders')
    if not os.path.exists(script):
        pytest.skip('fastlock-holders is not installed next to ' +
                    sys.executable)
    result = subprocess.run([script, '--help'], capture_output=True,
                            text=True, timeout=DEADLINE)
    assert result.returncode == 0
    assert result.stdout.startswith('usage: fastlock-holders')
    assert '--json' in result.stdout


@pytest.mark.parametrize('line, expected', [
    ('1: POSIX  ADVISORY  WRITE 1234 fe:00:2172774 0 EOF',
     (False, 'POSIX', 1234, (0xfe, 0, 2172774))),
    ('2: -> OFDLCK ADVISORY  WRITE -1 103:1a:12 0 EOF',
     (True, 'OFDLCK', -1, (0x103, 0x1a, 12))),
    # a request blocked behind another blocked one is indented further
    ('2:  -> POSIX  ADVISORY  WRITE 99 08:01:7 0 EOF',
     (True, 'POSIX', 99, (8, 1, 7))),
    ('3: FLOCK  ADVISORY  WRITE 5 <none>:0 0 EOF', None),
    ('', None),
])
def test_proc_locks_lines(line, expected):
    assert holders._parse_lock_line(line) == expected


def test_device_numbers_match_stat(lockers, compiled, lock_path):
    # /proc/locks writes major:minor in hex: the lock file's own line.
    lockers(compiled, lock_path, 'dev')
    st = os.stat(os.path.join(lock_path, 'dev'))
    with open('/proc/locks') as f:
        keys = {entry.key for entry in map(holders._parse_lock_line, f)
                if entry}
    assert (os.major(st.st_dev), os.minor(st.st_dev), st.st_ino) in keys


def test_table_escapes_what_would_break_its_rows():
    out = io.StringIO()
    holders._table([holders.LockInfo(
        'bad\nname', '/x/bad\nname',
        holders=[holders.Process(7, 'sh -c "echo \\\\n"\n')],
        unseen_waiters=2)], out)
    assert out.getvalue().splitlines() == [
        'LOCK       ROLE    PID  COMMAND',
        'bad\\nname  holder    7  sh -c "echo \\\\\\\\n"\\n',
        '           waiter    ?  (2 not visible)',
    ]


def test_table_of_file_names_that_are_not_utf8(tmp_path, monkeypatch):
    # A lock file (or lock path) named with bytes that are not UTF-8 is
    # shown with \xNN escapes; printed as is, the lone surrogates of its
    # decoded name made the table raise UnicodeEncodeError on a strict
    # (e.g. en_US.UTF-8) stdout.
    def run(path):
        out = io.TextIOWrapper(io.BytesIO(), 'utf-8', errors='strict')
        monkeypatch.setattr(sys, 'stdout', out)
        assert holders.main([path]) == 0
        out.flush()
        return out.buffer.getvalue().decode()

    lock_path = tmp_path / os.fsdecode(b'locks\xff')
    lock_path.mkdir()
    assert run(str(lock_path)) == 'no lock in %s is held or waited on\n' % (
        os.path.join(str(tmp_path), 'locks\\xff'))
    fd = os.open(os.path.join(os.fsencode(lock_path), b'bad\xfe name'),
                 os.O_RDWR | os.O_CREAT)
    try:
        fcntl.lockf(fd, fcntl.LOCK_EX)  # this process holds it
        rows = run(str(lock_path)).splitlines()
    finally:
        os.close(fd)
    assert rows[1].split('  ')[0] == 'bad\\xfe name'
    assert ('holder  %d' % os.getpid()) in rows[1]


@pytest.fixture
def btrfs_lock_path(tmp_path):
    """A lock directory in a btrfs subvolume on a loop device, whose
    files stat() reports on another device than /proc/locks names."""
    if os.geteuid() != 0 or not shutil.which('mkfs.btrfs'):
        pytest.skip('needs root and btrfs-progs')

    def run(*cmd):
        return subprocess.run(cmd, capture_output=True, text=True,
                              timeout=DEADLINE)

    image, mnt = tmp_path / 'btrfs.img', tmp_path / 'mnt'
    mnt.mkdir()
    with open(image, 'wb') as f:
        f.truncate(300 << 20)  # sparse; mkfs.btrfs wants more than 114 MiB
    made = run('mkfs.btrfs', '-q', str(image))
    if made.returncode != 0:
        pytest.skip('mkfs.btrfs: ' + made.stderr)
    mounted = run('mount', '-o', 'loop', str(image), str(mnt))
    if mounted.returncode != 0:
        pytest.skip('cannot mount a loop device: ' + mounted.stderr)
    try:
        created = run('btrfs', 'subvolume', 'create', str(mnt / 'sub'))
        assert created.returncode == 0, created.stderr
        (mnt / 'sub' / 'locks').mkdir()
        yield str(mnt / 'sub' / 'locks')
    finally:
        run('umount', str(mnt))
        image.unlink()


def test_btrfs_subvolume(btrfs_lock_path, lockers, compiled):
    holder = lockers(compiled, btrfs_lock_path, 'sub')
    waiter = lockers('py', btrfs_lock_path, 'sub', holds=False)
    _wait_for_waiters(btrfs_lock_path, {'sub': 1})
    path = os.path.join(btrfs_lock_path, 'sub')
    st = os.stat(path)
    with open('/proc/locks') as f:
        keys = {entry.key for entry in map(holders._parse_lock_line, f)
                if entry}
    # What makes this case: stat()'s device is not the one of /proc/locks.
    assert (os.major(st.st_dev), os.minor(st.st_dev), st.st_ino) not in keys

    result = _holders_command('--json', btrfs_lock_path)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == [
        {'name': 'sub', 'path': path,
         'holders': [_me(holder)], 'waiters': [_me(waiter)],
         'unseen_holders': 0, 'unseen_waiters': 0},
    ]
