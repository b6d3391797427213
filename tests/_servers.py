"""Real lock servers for the coordination tests: redis, etcd, ZooKeeper.

Each runs as a child process on 127.0.0.1, on a free port, with a
throwaway data directory, and is stopped by its PID.  ``.ci/install-servers``
installs the Debian packages; under CI (``CI=true``) a missing binary fails
the test instead of skipping it.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Callable

import pytest

ZOOKEEPER_JAR = '/usr/share/java/zookeeper.jar'
BACKENDS = ('redis', 'etcd', 'zookeeper')


def free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return int(s.getsockname()[1])


def missing(reason: str) -> None:
    if os.environ.get('CI') == 'true':
        pytest.fail(f'{reason} (CI needs it: run .ci/install-servers)')
    pytest.skip(f'{reason}; run .ci/install-servers (as root) to test it')


def _ask(port: int, request: bytes, expect: bytes) -> bool:
    try:
        with socket.create_connection(('127.0.0.1', port), timeout=0.5) as s:
            s.sendall(request)
            data = b''
            while expect not in data:
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
            return expect in data
    except OSError:
        return False


class Server:
    """One server process; ``restart()`` keeps its port and data."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.dir = tempfile.mkdtemp(prefix=f'fastlock-{kind}-')
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self._argv: list[str]
        self._ready: Callable[[], bool]
        getattr(self, '_setup_' + kind)()

    @property
    def url(self) -> str:
        scheme = {'redis': 'redis', 'etcd': 'etcd3+http',
                  'zookeeper': 'zookeeper'}[self.kind]
        return f'{scheme}://127.0.0.1:{self.port}'

    def _setup_redis(self) -> None:
        binary = shutil.which('redis-server')
        if binary is None:
            missing('redis-server is not installed')
        self._argv = [
            binary, '--port', str(self.port), '--bind', '127.0.0.1',
            '--dir', self.dir, '--save', '', '--appendonly', 'no',
            '--daemonize', 'no', '--logfile', os.path.join(self.dir, 'log'),
        ]
        self._ready = lambda: _ask(self.port, b'PING\r\n', b'+PONG')

    def _setup_etcd(self) -> None:
        binary = shutil.which('etcd')
        if binary is None:
            missing('etcd is not installed')
        peer = f'http://127.0.0.1:{free_port()}'
        client = f'http://127.0.0.1:{self.port}'
        self._argv = [
            binary, '--name', 't', '--data-dir', os.path.join(self.dir, 'etcd'),
            '--listen-client-urls', client, '--advertise-client-urls', client,
            '--listen-peer-urls', peer, '--initial-advertise-peer-urls', peer,
            '--initial-cluster', f't={peer}', '--logger', 'zap',
            '--log-level', 'error',
        ]

        def ready() -> bool:
            try:
                with urllib.request.urlopen(client + '/health', timeout=0.5) as r:
                    return b'"health":"true"' in r.read()
            except OSError:
                return False

        self._ready = ready

    def _setup_zookeeper(self) -> None:
        java = shutil.which('java')
        if java is None or not os.path.exists(ZOOKEEPER_JAR):
            missing('ZooKeeper (zookeeperd) or java is not installed')
        cfg = os.path.join(self.dir, 'zoo.cfg')
        with open(cfg, 'w') as f:
            # tickTime 250 ms allows session timeouts from 0.5 s (the tests
            # use short TTLs); the admin server would take port 8080.
            f.write(
                f'tickTime=250\ndataDir={self.dir}/data\nclientPort={self.port}\n'
                'clientPortAddress=127.0.0.1\nadmin.enableServer=false\n'
                '4lw.commands.whitelist=srvr,ruok\nmaxSessionTimeout=60000\n'
            )
        self._argv = [
            java, '-Xmx256m', '-XX:+UseSerialGC', '-XX:TieredStopAtLevel=1',
            '-cp', ZOOKEEPER_JAR,
            'org.apache.zookeeper.server.ZooKeeperServerMain', cfg,
        ]
        self._ready = lambda: _ask(self.port, b'srvr', b'Zookeeper version')

    def start(self, timeout: float = 40.0) -> Server:
        assert self.proc is None
        log = open(os.path.join(self.dir, 'stdout'), 'ab')
        self.proc = subprocess.Popen(
            self._argv, stdin=subprocess.DEVNULL, stdout=log,
            stderr=subprocess.STDOUT, cwd=self.dir, start_new_session=True,
        )
        log.close()
        end = time.monotonic() + timeout
        while not self._ready():
            if self.proc.poll() is not None or time.monotonic() > end:
                self.stop()
                with open(os.path.join(self.dir, 'stdout'), 'rb') as f:
                    tail = f.read()[-2000:].decode(errors='replace')
                raise RuntimeError(f'{self.kind} did not start:\n{tail}')
            time.sleep(0.05)
        return self

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None:
            return
        with _suppress_gone():
            os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            with _suppress_gone():
                os.kill(proc.pid, signal.SIGKILL)
            proc.wait(10)

    def restart(self, down: float = 0.0) -> None:
        self.stop()
        time.sleep(down)
        self.start()

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


class _suppress_gone:
    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: object, *rest: object) -> bool:
        return kind is ProcessLookupError
