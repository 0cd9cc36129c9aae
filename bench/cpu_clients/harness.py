"""Time one client over the mix, in this process, and print one ``RESULT {json}`` line.

Each client module (``raw.py``, ``naive.py``, ``leaf.py``) hands :func:`main`
an ``open_client(url)`` context manager that yields ``call(op)``; everything
else is the same for all of them: the seeded operations of
``bench/workloads.py``, its driver (``concurrency`` workers pulling from one
iterator), an untimed warm-up, then ``time.process_time()`` around the timed
part. ``bench/cpu.py`` runs these, one process per measurement.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import os
import resource
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BENCH))
from workloads import Call, drive, operations, percentile  # noqa: E402 (bench/ is not a package)

OpenClient = Callable[[str], contextlib.AbstractAsyncContextManager[Call]]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Time one client over the mix.")
    parser.add_argument("--url", required=True, help="the canned server, http://127.0.0.1:PORT")
    parser.add_argument("--n", type=int, default=20_000, help="timed requests")
    parser.add_argument("--concurrency", type=int, default=64, help="worker tasks")
    parser.add_argument("--warmup", type=int, default=200, help="untimed requests first")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--label", help="the client's name in the RESULT line")
    parser.add_argument(
        "--heap-as-is", action="store_true", help="skip settle_heap(), to see what it cancels"
    )
    return parser.parse_args(argv)


def settle_heap() -> None:
    """Raise glibc's mmap threshold past asyncio's 256 KiB read buffer, as a warm heap has it.

    asyncio reads a socket with ``recv(256 KiB)`` and shrinks the bytes to
    what arrived. Whether malloc serves that buffer from the heap or maps,
    remaps and unmaps it on every read (two page faults and about 10 us of
    kernel time per request here) depends on the process's heap layout, so
    one client's process can pay it and another's not, by chance. Freeing
    one mapped 1 MiB block raises the dynamic threshold to 1 MiB (and the
    trim threshold to 2 MiB) in every client alike.
    """
    block = bytearray(1 << 20)
    del block


async def measure(open_client: OpenClient, args: argparse.Namespace) -> dict[str, Any]:
    """Warm up, then time ``args.n`` requests; return the figures."""
    ops = operations(args.n, args.seed)
    warm = operations(args.warmup, args.seed + 1_000_003)
    async with open_client(args.url) as call:
        if warm:
            _, errors = await drive(call, warm, args.concurrency)
            if errors:
                raise RuntimeError(f"{errors} warm-up requests failed")
        # Garbage of the set-up is collected now, not inside the timed part.
        gc.collect()
        before = resource.getrusage(resource.RUSAGE_SELF)
        cpu0, wall0 = time.process_time(), time.perf_counter()
        latencies, errors = await drive(call, ops, args.concurrency)
        wall1, cpu1 = time.perf_counter(), time.process_time()
        after = resource.getrusage(resource.RUSAGE_SELF)
    if errors:
        raise RuntimeError(f"{errors} of {args.n} requests failed")
    latencies.sort()
    cpu, wall = cpu1 - cpu0, wall1 - wall0
    return {
        "n": args.n,
        "concurrency": args.concurrency,
        "warmup": args.warmup,
        "cpu_s": cpu,
        "cpu_us_per_req": cpu * 1e6 / args.n,
        "user_s": after.ru_utime - before.ru_utime,
        "sys_s": after.ru_stime - before.ru_stime,
        "wall_s": wall,
        "rps": args.n / wall,
        "p50_us": percentile(latencies, 0.50) * 1e6,
        "p99_us": percentile(latencies, 0.99) * 1e6,
        # Page faults and context switches tell an odd run from a slow client.
        "minflt": after.ru_minflt - before.ru_minflt,
        "nivcsw": after.ru_nivcsw - before.ru_nivcsw,
    }


def main(name: str, open_client: OpenClient, argv: list[str] | None = None) -> None:
    """Run one measurement and print ``RESULT {json}``."""
    args = parse_args(argv)
    if not args.heap_as_is:
        settle_heap()
    result = asyncio.run(measure(open_client, args))
    result["client"] = args.label or name
    result["pid"] = os.getpid()
    result["cpus"] = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    leaf = sys.modules.get("leaf_creds")
    if leaf is not None:  # which checkout was measured
        result["leaf_creds"] = str(Path(leaf.__file__ or "").resolve().parent)
    print("RESULT " + json.dumps(result, separators=(",", ":")), flush=True)
