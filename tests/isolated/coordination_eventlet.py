"""Cluster locks under eventlet: green threads of two coordinators on one
name exclude each other, the hub never stalls, ZooKeeper uses kazoo's
eventlet handler.  Run as ``coordination_eventlet.py URL``."""
import eventlet

eventlet.monkey_patch()

import sys  # noqa: E402
import time  # noqa: E402

from _common import check_implementation  # noqa: E402

from fastlock import coordination, lockutils  # noqa: E402

check_implementation()
URL = sys.argv[1]


def main():
    coords = [
        coordination.Coordinator(prefix='g-', backend_url=URL, lock_ttl=10,
                                 backend_timeout=5)
        for _ in range(2)
    ]
    for coord in coords:
        coord.start()
    if URL.startswith('zookeeper'):
        handler = type(coords[0].coordinator._coord.handler).__name__
        assert handler == 'SequentialEventletHandler', handler
    state = {'count': 0, 'inside': 0, 'max': 0, 'gap': 0.0, 'held': []}
    running = [True]

    def ticker():
        last = time.monotonic()
        while running[0]:
            eventlet.sleep(0.01)
            now = time.monotonic()
            state['gap'] = max(state['gap'], now - last)
            last = now

    def work(coord):
        for _ in range(8):
            with coord.lock('one', timeout=30):
                state['held'].append(lockutils.held_locks())
                state['inside'] += 1
                state['max'] = max(state['max'], state['inside'])
                value = state['count']
                eventlet.sleep(0.001)  # every other green thread may run
                state['count'] = value + 1
                state['inside'] -= 1

    tick = eventlet.spawn(ticker)
    threads = [eventlet.spawn(work, coords[i % 2]) for i in range(4)]
    for t in threads:
        t.wait()
    running[0] = False
    tick.wait()
    for coord in coords:
        coord.stop()
    assert (state['count'], state['inside'], state['max']) == (32, 0, 1), state
    assert all(h == ['g-one'] for h in state['held']), state['held']
    # A blocked hub would show as a gap of the backend's latency or more.
    assert state['gap'] < 1.0, state['gap']
    print('max hub gap %.3fs' % state['gap'])
    print('OK')


main()
