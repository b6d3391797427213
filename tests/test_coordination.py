"""fastlock.coordination against real redis, etcd and ZooKeeper servers.

Each server starts once per module (ZooKeeper's JVM is slow to start);
the tests that kill a server for good start their own.
"""

from __future__ import annotations

import logging
import os
import pathlib
import signal
import subprocess
import sys
import threading
import time

import pytest

# CI installs the extra: fail there, except on Python 3.10, where tooz 9
# does not install (the test extra leaves it out).
if sys.version_info < (3, 11):
    pytest.importorskip('tooz', reason='tooz 9 (fastlock[coordination]) '
                        'needs Python >= 3.11')
elif os.environ.get('CI') != 'true':
    pytest.importorskip('tooz', reason='needs the fastlock[coordination] extra')

from fastlock import coordination, lockutils  # noqa: E402

sys.path.insert(0, str(pathlib.Path(__file__).parent))
import _servers  # noqa: E402

HERE = pathlib.Path(__file__).parent
WORKER = str(HERE / 'isolated' / 'coordination_worker.py')
EVENTLET = str(HERE / 'isolated' / 'coordination_eventlet.py')
TTL = 2


@pytest.fixture(scope='module', params=_servers.BACKENDS)
def server(request: pytest.FixtureRequest):
    srv = _servers.Server(request.param)
    try:
        srv.start()
        yield srv
    finally:
        srv.close()


@pytest.fixture
def make(server):
    """Started coordinators on *server*, stopped at the end of the test."""
    made: list[coordination.Coordinator] = []

    def factory(**kwargs) -> coordination.Coordinator:
        kwargs.setdefault('backend_url', server.url)
        kwargs.setdefault('lock_ttl', TTL)
        kwargs.setdefault('backend_timeout', 3.0)
        coord = coordination.Coordinator(prefix='t-', **kwargs)
        coord.start()
        made.append(coord)
        return coord

    yield factory
    for coord in made:
        coord.stop()


def _run_workers(args_list, timeout=120):
    procs = [
        subprocess.Popen([sys.executable, WORKER, *args],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True)
        for args in args_list
    ]
    outs = []
    for proc in procs:
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            for p in procs:
                p.kill()
                p.communicate()
            pytest.fail('worker hung')
        assert proc.returncode == 0, err
        outs.append(out)
    return outs


def test_mutual_exclusion_across_processes(server, tmp_path):
    counter = tmp_path / 'counter'
    counter.write_text('0')
    n = 20
    _run_workers([['count', server.url, 'excl', str(counter), str(n)]] * 3)
    assert int(counter.read_text()) == 3 * n


def test_counter_check_has_teeth(tmp_path):
    # The same workers without the lock lose updates: the check above can
    # fail.  No server is contacted in this mode.
    counter = tmp_path / 'counter'
    counter.write_text('0')
    n = 1000  # over a second each: the three surely overlap
    _run_workers([['count', 'redis://127.0.0.1:1', 'x', str(counter), str(n),
                   'nolock']] * 3)
    assert int(counter.read_text()) < 3 * n


def test_held_locks_and_prefix(make, lockutils):
    # Either core: the held list is the one lockutils reads.
    coord = make()
    lock = coord.get_lock('name')
    assert lock.name == 't-name'
    assert lockutils.held_locks() == []
    with coord.lock('name') as held:
        assert held.acquired
        assert lockutils.held_locks() == ['t-name']
    assert lockutils.held_locks() == []
    assert not lock.acquired


def test_blocking_false_and_timeouts_uniform(make):
    holder, other = make(), make()
    with holder.lock('busy'):
        lock = other.get_lock('busy')
        assert lock.acquire(blocking=False) is False
        start = time.monotonic()
        assert lock.acquire(timeout=0.3) is False
        waited = time.monotonic() - start
        assert 0.3 <= waited < 3.0, waited
        assert lock.acquire(0.2) is False  # tooz's blocking=<seconds>
        for kwargs in ({'blocking': False}, {'timeout': 0.2}):
            with pytest.raises(lockutils.AcquireLockFailedException) as info:
                with other.lock('busy', **kwargs):
                    pass
            assert type(info.value) is lockutils.AcquireLockFailedException

            @coordination.synchronized('busy', coordinator=other, **kwargs)
            def f():
                return 1

            with pytest.raises(lockutils.AcquireLockFailedException):
                f()
        with pytest.raises(ValueError):
            lock.acquire(blocking=False, timeout=1)
        with pytest.raises(ValueError):
            lock.acquire(timeout=-1)
    # Free again: the failed attempts left nothing behind.
    with other.lock('busy', blocking=False):
        pass


def test_waiter_gets_lock_after_release(make):
    holder, other = make(), make()
    lock = holder.get_lock('handoff')
    assert lock.acquire()
    got = threading.Event()

    def wait():
        with other.lock('handoff', timeout=20):
            got.set()

    t = threading.Thread(target=wait)
    t.start()
    assert not got.wait(0.5)  # still blocked
    assert lock.release() is True
    assert got.wait(10)
    t.join(10)


def test_local_coalescing_fifo(make):
    coord = make()
    inside_backend = [0, 0]  # current, max
    real = coord._acquire

    def counting(*args, **kwargs):
        inside_backend[0] += 1
        inside_backend[1] = max(inside_backend[1], inside_backend[0])
        try:
            return real(*args, **kwargs)
        finally:
            inside_backend[0] -= 1

    coord._acquire = counting  # type: ignore[method-assign]
    order: list[int] = []
    first = coord.get_lock('fifo')
    assert first.acquire()
    threads = []
    for i in range(5):
        def work(i=i):
            with coord.lock('fifo', timeout=30):
                order.append(i)
                time.sleep(0.01)
        t = threading.Thread(target=work)
        t.start()
        threads.append(t)
        time.sleep(0.05)  # each queues behind the previous one
    first.release()
    for t in threads:
        t.join(30)
    assert order == list(range(5))
    assert inside_backend[1] == 1


def test_synchronized_names_and_log_lines(make, caplog):
    coord = make()

    class Vol:
        id = 'v1'

    @coordination.synchronized('{vol.id}-{f_name}', '{f_name}-{snap[name]}',
                               coordinator=coord)
    def delete(vol, snap, force=False):
        return lockutils.held_locks()

    with caplog.at_level(logging.DEBUG, logger='fastlock.coordination'):
        held = delete(Vol(), {'name': 's1'})
    assert held == ['t-delete-s1', 't-v1-delete']
    lines = [r.getMessage() for r in caplog.records
             if r.name == 'fastlock.coordination']
    assert lines[0] == 'Acquiring 2 locks by delete'
    assert lines[1] == 'Acquiring lock "t-delete-s1" by "delete"'
    assert lines[2].startswith('Lock "t-delete-s1" acquired by "delete" :: '
                               'waited ')
    assert lines[5].startswith('Acquired 2 locks by delete in ')
    assert lines[6].startswith('Lock "t-delete-s1" released by "delete" :: '
                               'held ')
    assert len(lines) == 8


def test_default_coordinator_and_config(server, monkeypatch):
    # synchronized() without coordinator= uses COORDINATOR, configured
    # through [coordination] backend_url.
    coordination.CONF.set_override('backend_url', server.url, 'coordination')
    coordination.CONF.set_override('lock_ttl', 5, 'coordination')
    try:
        coordination.COORDINATOR.start()
        try:
            assert coordination.COORDINATOR.lock_ttl == 5

            @coordination.synchronized('cfg-{x}')
            def f(x):
                return lockutils.held_locks()

            assert f(3) == ['cfg-3']
        finally:
            coordination.COORDINATOR.stop()
    finally:
        coordination.CONF.clear_override('backend_url', 'coordination')
        coordination.CONF.clear_override('lock_ttl', 'coordination')


def test_not_started_and_no_backend():
    coord = coordination.Coordinator()
    with pytest.raises(coordination.CoordinationError):
        coord.get_lock('x')
    with pytest.raises(coordination.CoordinationError, match='backend_url'):
        coord.start()
    coord.stop()  # harmless when not started
    for bad in ({'lock_ttl': 0}, {'lock_ttl': 2.5}, {'backend_timeout': -1},
                {'lock_ttl': 2, 'heartbeat_interval': 2},
                {'backend_timeout': float('nan')}):
        with pytest.raises(ValueError):
            coordination.Coordinator(backend_url='redis://127.0.0.1:1',
                                     **bad).start()


def test_sigkilled_holder_frees_after_ttl(server, make):
    proc = subprocess.Popen(
        [sys.executable, WORKER, 'hold', server.url, 'killed', str(TTL)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == 'held'
        other = make()
        assert other.get_lock('killed').acquire(blocking=False) is False
        os.kill(proc.pid, signal.SIGKILL)
        killed = time.monotonic()
        lock = other.get_lock('killed')
        assert lock.acquire(timeout=TTL + 10)
        freed = time.monotonic() - killed
        lock.release()
    finally:
        proc.kill()
        proc.communicate()
    # The lease/session outlives the holder by at most the TTL (plus
    # polling and, on ZooKeeper, the server's session tick).
    assert freed < TTL + 3, freed


# What a restart without the lock's data does, per backend: redis runs
# here without persistence (--save ''), so the restarted server is empty.
RESTART_KEEPS = {'redis': False, 'etcd': True, 'zookeeper': True}


def test_server_restarted_mid_hold(server, make):
    lost: list[str] = []
    # The ZooKeeper session must outlive the outage (stop, 0.5 s, JVM start).
    ttl = 15 if server.kind == 'zookeeper' else 4
    # kazoo reconnects with a back-off: on a loaded machine the holder's
    # client was not back within 2 s of the restarted JVM answering.
    timeout = 6 if server.kind == 'zookeeper' else 2
    holder = make(lock_ttl=ttl, heartbeat_interval=0.2, backend_timeout=timeout,
                  on_lost=lambda lock, reason: lost.append(reason))
    lock = holder.get_lock('restart')
    assert lock.acquire()
    server.restart(down=0.5)
    probe = make(lock_ttl=ttl)
    if RESTART_KEEPS[server.kind]:
        # Still ours: nobody else gets it, the holder is not told anything.
        assert probe.get_lock('restart').acquire(blocking=False) is False
        time.sleep(2)  # several heartbeats
        assert not lock.is_lost() and lost == []
        assert lockutils.held_locks() == ['t-restart']
        assert lock.release() is True
    else:
        end = time.monotonic() + ttl + 10
        while not lost and time.monotonic() < end:
            time.sleep(0.1)
        assert lost, 'the holder was not told'
        assert lock.is_lost() and not lock.acquired
        assert lockutils.held_locks() == []
        assert lock.release() is False
    with probe.lock('restart', timeout=10):
        pass


def test_server_stopped_for_good(server, tmp_path):
    # A server of our own, so the module's keeps running.
    dead = _servers.Server(server.kind).start()
    lost: list[str] = []
    try:
        holder = coordination.Coordinator(
            backend_url=dead.url, lock_ttl=2, heartbeat_interval=0.3,
            backend_timeout=1.5, on_lost=lambda lock, reason: lost.append(reason))
        holder.start()
        other = coordination.Coordinator(backend_url=dead.url, lock_ttl=2,
                                         backend_timeout=1.5)
        other.start()
        lock = holder.get_lock('gone')
        assert lock.acquire()
        dead.stop()
        start = time.monotonic()
        with pytest.raises(coordination.LockBackendError) as info:
            other.get_lock('gone').acquire()
        assert isinstance(info.value, lockutils.AcquireLockFailedException)
        assert time.monotonic() - start < 1.5 + 1.0
        while not lost and time.monotonic() - start < 2 + 4:
            time.sleep(0.1)
        assert lost and lock.is_lost()  # the holder was told
        start = time.monotonic()
        try:
            lock.release()
        except coordination.CoordinationError:
            pass
        assert time.monotonic() - start < 1.5 + 1.0
        for coord in (holder, other):
            start = time.monotonic()
            coord.stop()
            assert time.monotonic() - start < 1.5 + 1.0
    finally:
        dead.close()


def test_eventlet(server, impl_name):
    pytest.importorskip('eventlet')
    env = dict(os.environ, FASTLOCK_EXPECT_IMPLEMENTATION=impl_name)
    env.pop('FASTLOCK_NO_EXTENSIONS', None)
    if impl_name == 'py':
        env['FASTLOCK_NO_EXTENSIONS'] = '1'
    proc = subprocess.run([sys.executable, EVENTLET, server.url], env=env,
                          capture_output=True, text=True, timeout=120,
                          cwd=str(HERE / 'isolated'))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.rstrip().endswith('OK'), proc.stdout


def test_stop_while_holding_and_waiting(make):
    holder = make()
    coord = make(backend_timeout=5.0)
    other = holder.get_lock('stopping')
    assert other.acquire()
    mine = coord.get_lock('stopping2')
    assert mine.acquire()
    errors: list[BaseException] = []

    def wait():
        try:
            coord.get_lock('stopping').acquire()
        except BaseException as exc:
            errors.append(exc)

    t = threading.Thread(target=wait)
    t.start()
    time.sleep(0.3)
    start = time.monotonic()
    coord.stop()
    t.join(10)
    # The waiter is not left behind; stop() took its held lock along.
    assert not t.is_alive()
    assert time.monotonic() - start < 5.0
    assert len(errors) == 1 and isinstance(
        errors[0], coordination.LockBackendError), errors
    assert mine.release() is False
    assert lockutils.held_locks() == ['t-stopping']
    assert other.release() is True
    with pytest.raises(ValueError):
        other.release()


def test_file_backend_holder_not_reported_lost(tmp_path):
    # tooz's file:// locks (Cinder's default backend) have no heartbeat();
    # a lock held past its TTL there is still held, and must not be
    # reported lost.
    lost: list[str] = []
    coord = coordination.Coordinator(
        backend_url='file://%s' % tmp_path, lock_ttl=1,
        heartbeat_interval=0.1, on_lost=lambda lock, reason: lost.append(reason))
    coord.start()
    try:
        with coord.lock('f') as lock:
            time.sleep(1.6)
            assert not lock.is_lost() and lost == []
            assert lockutils.held_locks() == ['f']
    finally:
        coord.stop()


def test_held_past_ttl_stays_held(make):
    # Heartbeats keep the lease (tooz's default, start_heart=False, lets
    # redis and etcd locks expire silently after the TTL).
    holder, other = make(), make()
    lost: list[str] = []
    lock = holder.get_lock('long')
    lock.on_lost = lambda lk, reason: lost.append(reason)
    assert lock.acquire()
    end = time.monotonic() + TTL * 1.8
    while time.monotonic() < end:
        assert other.get_lock('long').acquire(blocking=False) is False
        time.sleep(0.3)
    assert not lock.is_lost() and lost == []
    assert lock.release() is True


def test_cinder_style_blocking_seconds(make):
    coord, other = make(), make()

    @coordination.synchronized('cinder-{f_name}', blocking=0.3,
                               coordinator=coord)
    def op():
        return True

    with other.lock('cinder-op'):
        start = time.monotonic()
        with pytest.raises(lockutils.AcquireLockFailedException):
            op()
        assert time.monotonic() - start >= 0.3
    assert op() is True
