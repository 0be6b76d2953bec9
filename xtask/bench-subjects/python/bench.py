"""CPython's side of `cargo xtask bench`: the same figures as the reference's subject
(xtask/bench-subjects/src/bin/bench-reference.rs), written the way a Python program would.

    python3 bench.py FIGURE --samples K --warmup W --n N [--start-method M] [--cpus 1|2]

Prints one line of JSON, {"samples": [...]}, each value in the figure's base unit: seconds for a
latency, a count per second for a throughput, bytes for a peak memory (see
xtask/bench-subjects/src/lib.rs for the protocol). The IPC figures start their children under
`fork`, as the reference's subject does.
"""

import argparse
import json
import multiprocessing as mp
import os
import subprocess
import sys
import time
from multiprocessing import shared_memory

MIB = 1 << 20
INCREMENTERS = 4


def noop():
    pass


def join_ok(p):
    p.join()
    if p.exitcode != 0:
        raise RuntimeError('the child %s exited with %r' % (p.name, p.exitcode))


def start_join(ctx, n):
    children = [ctx.Process(target=noop) for _ in range(n)]
    for p in children:
        p.start()
    for p in children:
        join_ok(p)


def timed(f, *args):
    t = time.perf_counter()
    f(*args)
    return time.perf_counter() - t


def first_forkserver_start():
    out = subprocess.run(
        [sys.executable, os.path.abspath(__file__), 'start-join-first-once'],
        capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError('the fresh interpreter failed: %s' % out.stderr.strip())
    return json.loads(out.stdout.strip().splitlines()[-1])['samples'][0]


def peak_rss():
    with open('/proc/self/status') as status:
        for line in status:
            if line.startswith('VmHWM:'):
                value, unit = line.split()[1:3]
                if unit != 'kB':
                    break
                return int(value) * 1024
    raise RuntimeError('no VmHWM in /proc/self/status')


def report_peak_rss(slot):
    slot.value = peak_rss()


def child_rss(ctx):
    slot = ctx.RawValue('Q', 0)
    p = ctx.Process(target=report_peak_rss, args=(slot,))
    p.start()
    join_ok(p)
    return float(slot.value)


def until_waiting(barrier, others):
    """Waits until the `others` other parties wait at `barrier`. The caller then reads the clock
    and releases them (its own wait()): the clock starts before any of them can go."""
    while barrier.n_waiting < others:
        time.sleep(0.00005)


def produce(queue, ready, n):
    ready.wait()
    for i in range(n):
        queue.put(i)


def queue_throughput(n):
    ctx = mp.get_context('fork')
    queue = ctx.Queue()
    ready = ctx.Barrier(2)
    p = ctx.Process(target=produce, args=(queue, ready, n))
    p.start()
    until_waiting(ready, 1)
    t = time.perf_counter()
    ready.wait()
    for i in range(n):
        item = queue.get()
        if item != i:
            raise RuntimeError('got item %r, expected %d' % (item, i))
    elapsed = time.perf_counter() - t
    join_ok(p)
    return n / elapsed


def send_blocks(conn, ready, n):
    block = b'\x5a' * MIB
    ready.wait()
    for _ in range(n):
        conn.send_bytes(block)


def send_bytes(n):
    ctx = mp.get_context('fork')
    reader, writer = ctx.Pipe(duplex=False)
    ready = ctx.Barrier(2)
    p = ctx.Process(target=send_blocks, args=(writer, ready, n))
    p.start()
    writer.close()
    until_waiting(ready, 1)
    t = time.perf_counter()
    ready.wait()
    total = 0
    for _ in range(n):
        total += len(reader.recv_bytes())
    elapsed = time.perf_counter() - t
    join_ok(p)
    if total != n * MIB:
        raise RuntimeError('received %d bytes, expected %d' % (total, n * MIB))
    return total / elapsed


def _cpu_set():
    """A cpu_set_t for libc, where `os` has no sched_*affinity (PyPy)."""
    import ctypes
    import ctypes.util
    libc = ctypes.CDLL(ctypes.util.find_library('c'), use_errno=True)
    return libc, (ctypes.c_ulong * 16)(), ctypes


def allowed_cpus():
    if hasattr(os, 'sched_getaffinity'):
        return sorted(os.sched_getaffinity(0))
    libc, mask, ctypes = _cpu_set()
    if libc.sched_getaffinity(0, ctypes.sizeof(mask), ctypes.byref(mask)) != 0:
        raise OSError(ctypes.get_errno(), 'sched_getaffinity')
    bits = 8 * ctypes.sizeof(ctypes.c_ulong)
    return [cpu for cpu in range(len(mask) * bits) if mask[cpu // bits] >> (cpu % bits) & 1]


def pin(cpu):
    if hasattr(os, 'sched_setaffinity'):
        os.sched_setaffinity(0, {cpu})
        return
    libc, mask, ctypes = _cpu_set()
    bits = 8 * ctypes.sizeof(ctypes.c_ulong)
    mask[cpu // bits] |= 1 << (cpu % bits)
    if libc.sched_setaffinity(0, ctypes.sizeof(mask), ctypes.byref(mask)) != 0:
        raise OSError(ctypes.get_errno(), 'sched_setaffinity')


def pinning(cpus):
    allowed = allowed_cpus()
    if cpus == 1 and allowed:
        return allowed[0], allowed[0]
    if cpus == 2 and len(allowed) >= 2:
        return allowed[0], allowed[1]
    raise RuntimeError('pinning to %s CPUs, and this process may run on %d only'
                       % (cpus, len(allowed)))


def echo(conn, cpu):
    pin(cpu)
    while True:
        message = conn.recv_bytes()
        if not message:
            return
        conn.send_bytes(message)


def roundtrip(args):
    parent_cpu, child_cpu = pinning(args.cpus)
    pin(parent_cpu)
    ctx = mp.get_context('fork')
    ours, theirs = ctx.Pipe()
    p = ctx.Process(target=echo, args=(theirs, child_cpu))
    p.start()
    theirs.close()

    def one():
        t = time.perf_counter()
        for _ in range(args.n):
            ours.send_bytes(b'x')
            if len(ours.recv_bytes()) != 1:
                raise RuntimeError('the echo is not one byte')
        return (time.perf_counter() - t) / args.n

    samples = collect(args, one)
    ours.send_bytes(b'')
    join_ok(p)
    return samples


def increment(value, start, n, ends, index):
    start.wait()
    for _ in range(n):
        with value.get_lock():
            value.value += 1
    ends[index] = time.monotonic_ns()


def value_increments(n):
    """From the children's release to the last one's end (each reports when it ended)."""
    ctx = mp.get_context('fork')
    value = ctx.Value('Q', 0)
    start = ctx.Barrier(INCREMENTERS + 1)
    ends = ctx.RawArray('Q', INCREMENTERS)
    children = [ctx.Process(target=increment, args=(value, start, n, ends, i))
                for i in range(INCREMENTERS)]
    for p in children:
        p.start()
    until_waiting(start, INCREMENTERS)
    t0 = time.monotonic_ns()
    start.wait()
    for p in children:
        join_ok(p)
    elapsed = (max(ends) - t0) / 1e9
    if value.value != INCREMENTERS * n:
        raise RuntimeError('the value is %d, expected %d' % (value.value, INCREMENTERS * n))
    if elapsed <= 0:
        raise RuntimeError('the children reported no end time')
    return INCREMENTERS * n / elapsed


def shm_write(args):
    shm = shared_memory.SharedMemory(create=True, size=args.n)
    try:
        source = b'\xa5' * args.n

        def one():
            t = time.perf_counter()
            shm.buf[:args.n] = source
            return args.n / (time.perf_counter() - t)

        return collect(args, one)
    finally:
        shm.close()
        shm.unlink()


def tiny(x):
    return x


def pool_map(pool, n, chunksize):
    t = time.perf_counter()
    results = pool.map(tiny, range(n), chunksize)
    elapsed = time.perf_counter() - t
    if len(results) != n or results[-1] != n - 1:
        raise RuntimeError('map returned the wrong results')
    return n / elapsed


def executor_map(executor, n):
    t = time.perf_counter()
    count = sum(1 for _ in executor.map(tiny, range(n)))
    elapsed = time.perf_counter() - t
    if count != n:
        raise RuntimeError('map returned the wrong number of results')
    return n / elapsed


def apply_roundtrip(pool, n):
    t = time.perf_counter()
    for i in range(n):
        if pool.apply(tiny, (i,)) != i:
            raise RuntimeError('apply returned the wrong result')
    return (time.perf_counter() - t) / n


def put_blocks(queue, ready, n):
    block = b'\x5a' * MIB
    ready.wait()
    for _ in range(n):
        queue.put(block)


def queue_blocks(n):
    ctx = mp.get_context('fork')
    queue = ctx.Queue()
    ready = ctx.Barrier(2)
    p = ctx.Process(target=put_blocks, args=(queue, ready, n))
    p.start()
    until_waiting(ready, 1)
    t = time.perf_counter()
    ready.wait()
    total = 0
    for _ in range(n):
        total += len(queue.get())
    elapsed = time.perf_counter() - t
    join_ok(p)
    if total != n * MIB:
        raise RuntimeError('received %d bytes, expected %d' % (total, n * MIB))
    return total / elapsed


def collect(args, one):
    for _ in range(args.warmup):
        one()
    return [one() for _ in range(args.samples)]


def measure(args):
    figure, method = args.figure, args.start_method
    if figure in ('start-join', 'start-join-16', 'child-rss', 'start-join-first') and not method:
        raise RuntimeError('the figure %s needs --start-method' % figure)
    if figure == 'start-join':
        ctx = mp.get_context(method)
        return collect(args, lambda: timed(start_join, ctx, 1))
    if figure == 'start-join-16':
        ctx = mp.get_context(method)
        return collect(args, lambda: timed(start_join, ctx, args.n))
    if figure == 'start-join-first' and method == 'forkserver':
        return collect(args, first_forkserver_start)
    if figure == 'start-join-first-once':
        return [timed(start_join, mp.get_context('forkserver'), 1)]
    if figure == 'child-rss':
        ctx = mp.get_context(method)
        return collect(args, lambda: child_rss(ctx))
    if figure == 'queue-throughput':
        return collect(args, lambda: queue_throughput(args.n))
    if figure == 'send-bytes-1mib':
        return collect(args, lambda: send_bytes(args.n))
    if figure in ('roundtrip-1cpu', 'roundtrip-2cpu'):
        return roundtrip(args)
    if figure == 'value-increments':
        return collect(args, lambda: value_increments(args.n))
    if figure == 'shm-write':
        return shm_write(args)
    if figure in ('pool-map-tiny', 'pool-map-chunked'):
        chunksize = 1 if figure == 'pool-map-tiny' else None
        with mp.get_context('fork').Pool(2) as pool:
            return collect(args, lambda: pool_map(pool, args.n, chunksize))
    if figure == 'executor-map':
        import concurrent.futures
        with concurrent.futures.ProcessPoolExecutor(2, mp_context=mp.get_context('fork')) as ex:
            return collect(args, lambda: executor_map(ex, args.n))
    if figure == 'pool-apply-roundtrip':
        with mp.get_context('fork').Pool(1) as pool:
            return collect(args, lambda: apply_roundtrip(pool, args.n))
    if figure == 'queue-1mib':
        return collect(args, lambda: queue_blocks(args.n))
    raise RuntimeError('this subject does not measure %s%s'
                       % (figure, ' under %s' % method if method else ''))


def positive(text):
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError('must be at least 1')
    return value


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('figure')
    parser.add_argument('--samples', type=positive, default=1)
    parser.add_argument('--warmup', type=int, default=0)
    parser.add_argument('--n', type=positive, default=1)
    parser.add_argument('--start-method', choices=('fork', 'spawn', 'forkserver'))
    parser.add_argument('--cpus', type=int, choices=(1, 2))
    args = parser.parse_args()
    try:
        samples = measure(args)
    except Exception as err:  # reported like the Rust subjects: one line, exit status 1
        print('error: %s: %s: %s' % (args.figure, type(err).__name__, err), file=sys.stderr)
        return 1
    print(json.dumps({'samples': samples}), flush=True)
    return 0


if __name__ == '__main__':
    sys.exit(main())
