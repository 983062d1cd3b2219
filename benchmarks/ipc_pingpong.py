"""The machine's own latency floor, with nothing of rx-gateway in it.

Two processes on a Unix socket pair: the parent sends a byte at a constant rate (open loop,
latency from the intended send time), the child does a little CPU work per request and answers.
If this already misses p99 <= 10 ms at some rate, no service on this machine can hold it there:
the tail comes from the machine (scheduling of woken processes), not from the service.

    python benchmarks/ipc_pingpong.py                 # 1,000/s for 12 s, ~0.1 ms of work each
    python benchmarks/ipc_pingpong.py --rate 300 --work 3000

Prints p50, p99 and max, and the times (seconds into the run) of the requests over 10 ms.
"""

from __future__ import annotations

import argparse
import os
import socket
import time


def _serve(sock: socket.socket, work: int) -> None:
    while sock.recv(64):
        total = 0
        for i in range(work):  # about 0.03 us per step: CPU work, no I/O
            total += i
        sock.sendall(b"x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=int, default=1_000, help="requests per second")
    parser.add_argument("--seconds", type=float, default=12.0)
    parser.add_argument("--work", type=int, default=3_000, help="loop steps per request")
    args = parser.parse_args()
    parent, child = socket.socketpair()
    pid = os.fork()
    if pid == 0:
        parent.close()
        _serve(child, args.work)
        os._exit(0)
    child.close()
    latencies: list[tuple[float, float]] = []
    count = int(args.rate * args.seconds)
    start = time.perf_counter() + 0.05
    for index in range(count):
        intended = start + index / args.rate
        delay = intended - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        parent.sendall(b"x")
        parent.recv(64)
        latencies.append((intended - start, (time.perf_counter() - intended) * 1000))
    parent.close()
    os.waitpid(pid, 0)
    ordered = sorted(ms for _, ms in latencies)
    slow = sorted({round(at, 1) for at, ms in latencies if ms > 10})
    print(
        f"{args.rate}/s, work {args.work}: p50 {ordered[len(ordered) // 2]:.2f} ms,"
        f" p99 {ordered[int(len(ordered) * 0.99)]:.2f} ms, max {ordered[-1]:.1f} ms;"
        f" over 10 ms at {slow} s"
    )


if __name__ == "__main__":
    main()
