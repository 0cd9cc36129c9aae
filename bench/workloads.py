"""The client side of the benchmarks: one measurement per process.

``bench/run.py`` starts this module once per measurement, so that each one
has a fresh interpreter, its own peak RSS and nothing left over from another
(a warm cache, a grown heap). Each prints one JSON object on stdout::

    python bench/workloads.py mix  --client raw|leaf --url URL -n 20000 -c 64
    python bench/workloads.py bulk --client raw|leaf --url URL -n 20000 -c 64
    python bench/workloads.py plan --lines 1000000 --out plan.jsonl

The raw client is what a careful user would write by hand: one
``aiohttp.ClientSession`` with the auth header set once, ``json.loads`` of
each body, a status check. The leaf client does the same through
``LeafSession`` (token auth, the default registry, typed records). Both run
the very same seeded sequence of operations from the very same driver.

The raw client never imports leaf_creds, so its RSS is aiohttp's alone.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sys
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent))
from server import BASE, TOKEN, pin  # bench/ is not a package

if TYPE_CHECKING:
    import leaf_creds as lc

# The mix of the issue: 50% get, 20% create, 20% delete, 10% events.
KINDS = ("get",) * 5 + ("create",) * 2 + ("delete",) * 2 + ("events",)
PROVIDERS = ("sentera", "cnhi")
USERS = 1000

# The camelCase bodies the raw client posts; the leaf client posts the same
# fields from the schema classes.
RAW_BODIES: dict[str, dict[str, str]] = {
    "sentera": {
        "username": "grower@example.com",
        "password": "sentera-password",
        "organizationName": "Acme Farms",
    },
    "cnhi": {
        "clientId": "cnhi-client-id",
        "clientSecret": "cnhi-client-secret",
        "subscriptionKey": "cnhi-subscription-key",
        "refreshToken": "cnhi-refresh-token",
        "clientEnvironment": "STAGE",
    },
}

Op: TypeAlias = tuple[str, str, str]  # (kind, provider slug, user id)


def user_ids(seed: int, count: int = USERS) -> list[str]:
    """Return ``count`` UUID-shaped user ids, the same for the same seed."""
    rng = random.Random(seed ^ 0x5EED)
    ids = []
    for _ in range(count):
        h = f"{rng.getrandbits(128):032x}"
        ids.append(f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}")
    return ids


def operations(n: int, seed: int) -> list[Op]:
    """Return the seeded mix of ``n`` operations, identical for raw and leaf."""
    rng = random.Random(seed)
    users = user_ids(seed)
    return [(rng.choice(KINDS), rng.choice(PROVIDERS), rng.choice(users)) for _ in range(n)]


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """Return the ``q`` quantile (0..1) of sorted values, nearest rank."""
    if not sorted_values:
        return float("nan")
    rank = max(0, min(len(sorted_values) - 1, round(q * len(sorted_values)) - 1))
    return sorted_values[rank]


# -- the two clients: one coroutine per operation -------------------------

Call: TypeAlias = Callable[[Op], Awaitable[object]]


class StatusError(Exception):
    """A non-2xx answer to the raw client."""


def raw_client(http: aiohttp.ClientSession, base_url: str) -> Call:
    """Return the raw aiohttp client's ``call(op)``."""
    root = base_url + BASE
    json_headers = {"Content-Type": "application/json"}

    async def call(op: Op) -> object:
        kind, provider, user_id = op
        url = f"{root}/users/{user_id}/{provider}-credentials"
        if kind == "get":
            async with http.get(url) as response:
                body = await response.read()
                if response.status >= 300:
                    raise StatusError(response.status)
                return json.loads(body)
        if kind == "create":
            data = json.dumps(RAW_BODIES[provider]).encode()
            async with http.post(url, data=data, headers=json_headers) as response:
                body = await response.read()
                if response.status >= 300:
                    raise StatusError(response.status)
                return json.loads(body)
        if kind == "delete":
            async with http.delete(url) as response:
                await response.read()
                if response.status >= 300:
                    raise StatusError(response.status)
                return None
        async with http.get(url + "/events") as response:
            body = await response.read()
            if response.status >= 300:
                raise StatusError(response.status)
            return json.loads(body)

    return call


def raw_session() -> aiohttp.ClientSession:
    """The raw client's one session, with the auth header set once."""
    return aiohttp.ClientSession(
        headers={"Authorization": "Bearer " + TOKEN, "Accept": "application/json"}
    )


def leaf_schemas() -> dict[str, tuple[Any, Any]]:
    """Return ``{slug: (resource, credentials)}`` for the two providers."""
    import leaf_creds as lc

    return {
        "sentera": (
            lc.SENTERA,
            lc.SenteraCredentials(
                username="grower@example.com",
                password="sentera-password",
                organization_name="Acme Farms",
            ),
        ),
        "cnhi": (
            lc.CNHI,
            lc.CnhiCredentials(
                client_id="cnhi-client-id",
                client_secret="cnhi-client-secret",
                subscription_key="cnhi-subscription-key",
                refresh_token="cnhi-refresh-token",
                client_environment=lc.ClientEnvironment.STAGE,
            ),
        ),
    }


def leaf_client(leaf: lc.LeafSession) -> Call:
    """Return the LeafSession client's ``call(op)``."""
    schemas = leaf_schemas()

    async def call(op: Op) -> object:
        kind, provider, user_id = op
        resource, credentials = schemas[provider]
        if kind == "get":
            return await leaf.get(resource, user_id)
        if kind == "create":
            return await leaf.create(resource, user_id, credentials)
        if kind == "delete":
            await leaf.delete(resource, user_id)
            return None
        return await leaf.events(resource, user_id)

    return call


def leaf_operations(ops: Sequence[Op]) -> list[Any]:
    """Turn the mix into ``leaf_creds`` bulk operations."""
    import leaf_creds as lc

    schemas = leaf_schemas()
    out: list[Any] = []
    for kind, provider, user_id in ops:
        resource, credentials = schemas[provider]
        if kind == "get":
            out.append(lc.Get(resource, user_id))
        elif kind == "create":
            out.append(lc.Create(resource, user_id, credentials))
        elif kind == "delete":
            out.append(lc.Delete(resource, user_id))
        else:
            out.append(lc.Events(resource, user_id))
    return out


# -- the measurements -----------------------------------------------------


async def drive(call: Call, ops: Sequence[Op], concurrency: int) -> tuple[list[float], int]:
    """Run ``ops`` with ``concurrency`` workers; return latencies (s) and errors."""
    latencies: list[float] = []
    errors = 0
    it = iter(ops)
    clock = time.perf_counter

    async def worker() -> None:
        nonlocal errors
        for op in it:
            started = clock()
            try:
                await call(op)
            except Exception:
                errors += 1
            latencies.append(clock() - started)

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return latencies, errors


def _warmup(n: int, concurrency: int) -> int:
    return min(n, max(200, 4 * concurrency))


async def measure_mix(client: str, url: str, n: int, concurrency: int, seed: int) -> dict[str, Any]:
    """Measure the mix through one client; return the result record."""
    warm = operations(_warmup(n, concurrency), seed + 1)
    ops = operations(n, seed)
    if client == "raw":
        async with raw_session() as http:
            call = raw_client(http, url)
            await drive(call, warm, concurrency)
            return _timed(await _clocked(drive(call, ops, concurrency)), n)
    import leaf_creds as lc

    async with lc.LeafSession(token=TOKEN, base_url=url) as leaf:
        call = leaf_client(leaf)
        await drive(call, warm, concurrency)
        return _timed(await _clocked(drive(call, ops, concurrency)), n)


async def _clocked(
    work: Awaitable[tuple[list[float], int]],
) -> tuple[float, float, list[float], int]:
    cpu, wall = time.process_time(), time.perf_counter()
    latencies, errors = await work
    return time.process_time() - cpu, time.perf_counter() - wall, latencies, errors


def _timed(clocked: tuple[float, float, list[float], int], n: int) -> dict[str, Any]:
    cpu, wall, latencies, errors = clocked
    latencies.sort()
    return {
        "n": n,
        "wall_s": wall,
        "cpu_s": cpu,
        "rps": n / wall,
        "cpu_ms_per_1k": cpu * 1e6 / n,
        "p50_ms": percentile(latencies, 0.50) * 1e3,
        "p99_ms": percentile(latencies, 0.99) * 1e3,
        "errors": errors,
    }


async def semaphore_loop(call: Call, ops: Sequence[Op], concurrency: int) -> int:
    """The hand-written baseline of ``leaf.bulk()``: a task per op, a semaphore."""
    semaphore = asyncio.Semaphore(concurrency)

    async def one(op: Op) -> bool:
        async with semaphore:
            try:
                await call(op)
            except Exception:
                return False
            return True

    results = await asyncio.gather(*(one(op) for op in ops))
    return results.count(False)


async def measure_bulk(
    client: str, url: str, n: int, concurrency: int, seed: int
) -> dict[str, Any]:
    """Measure ``leaf.bulk()`` or the semaphore loop over ``n`` operations."""
    warm = operations(_warmup(n, concurrency), seed + 1)
    ops = operations(n, seed)
    if client == "raw":
        async with raw_session() as http:
            call = raw_client(http, url)
            await semaphore_loop(call, warm, concurrency)
            cpu, wall = time.process_time(), time.perf_counter()
            errors = await semaphore_loop(call, ops, concurrency)
    else:
        import leaf_creds as lc

        warm_ops, bulk_ops = leaf_operations(warm), leaf_operations(ops)
        async with lc.LeafSession(token=TOKEN, base_url=url) as leaf:
            async for _ in leaf.bulk(warm_ops, concurrency=concurrency):
                pass
            errors = 0
            cpu, wall = time.process_time(), time.perf_counter()
            async for outcome in leaf.bulk(bulk_ops, concurrency=concurrency):
                errors += not outcome.ok
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    return {
        "n": n,
        "wall_s": wall,
        "cpu_s": cpu,
        "rps": n / wall,
        "cpu_ms_per_1k": cpu * 1e6 / n,
        "errors": errors,
    }


async def measure_interleaved(
    url: str, batch: int, rounds: int, concurrency: int, seed: int
) -> dict[str, Any]:
    """Alternate raw and leaf batches in one process; CPU per request of each.

    A cross-check for a busy machine: load that comes and goes over seconds
    hits the two sides of each short pair alike, so the median of the
    per-pair ratios barely moves with it.
    """
    import leaf_creds as lc

    warm = operations(_warmup(batch, concurrency), seed + 1)
    async with raw_session() as http, lc.LeafSession(token=TOKEN, base_url=url) as leaf:
        clients = {"raw": raw_client(http, url), "leaf": leaf_client(leaf)}
        for call in clients.values():
            await drive(call, warm, concurrency)
        cpu: dict[str, list[float]] = {"raw": [], "leaf": []}
        for i in range(rounds):
            ops = operations(batch, seed + 2 + i)
            order = ("raw", "leaf") if i % 2 == 0 else ("leaf", "raw")
            for side in order:
                started = time.process_time()
                _, errors = await drive(clients[side], ops, concurrency)
                cpu[side].append((time.process_time() - started) * 1e6 / batch)
                if errors:
                    raise RuntimeError(f"{side}: {errors} requests failed")
    return _alternating_summary(cpu, batch, "cpu_ms_per_1k")


async def measure_bulk_interleaved(
    url: str, batch: int, rounds: int, concurrency: int, seed: int
) -> dict[str, Any]:
    """Alternate semaphore-loop and ``leaf.bulk()`` batches in one process.

    The throughput twin of :func:`measure_interleaved`: each side's
    operations per second, batch by batch, and the median per-pair ratio.
    """
    import leaf_creds as lc

    warm = operations(_warmup(batch, concurrency), seed + 1)
    async with raw_session() as http, lc.LeafSession(token=TOKEN, base_url=url) as leaf:
        raw_call = raw_client(http, url)

        async def run_raw(ops: Sequence[Any]) -> int:
            return await semaphore_loop(raw_call, ops, concurrency)

        async def run_leaf(ops: Sequence[Any]) -> int:
            errors = 0
            async for outcome in leaf.bulk(ops, concurrency=concurrency):
                errors += not outcome.ok
            return errors

        sides = {"raw": run_raw, "leaf": run_leaf}
        await run_raw(warm)
        await run_leaf(leaf_operations(warm))
        rate: dict[str, list[float]] = {"raw": [], "leaf": []}
        for i in range(rounds):
            ops = operations(batch, seed + 2 + i)
            # Each side's input is built before its clock starts, as in bulk.
            inputs = {"raw": ops, "leaf": leaf_operations(ops)}
            order = ("raw", "leaf") if i % 2 == 0 else ("leaf", "raw")
            for side in order:
                started = time.perf_counter()
                errors = await sides[side](inputs[side])
                rate[side].append(batch / (time.perf_counter() - started))
                if errors:
                    raise RuntimeError(f"{side}: {errors} operations failed")
    return _alternating_summary(rate, batch, "rps")


def _alternating_summary(values: dict[str, list[float]], batch: int, what: str) -> dict[str, Any]:
    """Each side's median ``what`` and the median and quartiles of leaf/raw per pair."""
    rounds = len(values["raw"])
    ratios = sorted(lf / r for r, lf in zip(values["raw"], values["leaf"], strict=True))
    return {
        "n": batch * rounds,
        "batch": batch,
        f"raw_{what}": sorted(values["raw"])[rounds // 2],
        f"leaf_{what}": sorted(values["leaf"])[rounds // 2],
        "ratio": ratios[rounds // 2],
        "ratio_q1": ratios[rounds // 4],
        "ratio_q3": ratios[(3 * rounds) // 4],
        "errors": 0,
    }


# -- the apply plan -------------------------------------------------------


def plan_lines(lines: int, seed: int) -> Iterator[str]:
    """Yield the lines of an apply plan (the mix above), one JSON object each."""
    rng = random.Random(seed)
    users = user_ids(seed)
    for _ in range(lines):
        kind, provider, user_id = rng.choice(KINDS), rng.choice(PROVIDERS), rng.choice(users)
        entry: dict[str, Any] = {"op": kind, "provider": provider, "leafUserId": user_id}
        if kind == "create":
            entry["credentials"] = RAW_BODIES[provider]
        yield json.dumps(entry, separators=(",", ":")) + "\n"


def write_plan(path: str, lines: int, seed: int) -> int:
    """Stream a plan of ``lines`` lines to ``path``; return its size in bytes."""
    with open(path, "w", encoding="utf-8") as out:
        size = 0
        buffer: list[str] = []
        for line in plan_lines(lines, seed):
            buffer.append(line)
            if len(buffer) >= 4096:
                size += out.write("".join(buffer))
                buffer.clear()
        size += out.write("".join(buffer))
    return size


# -- the command line -----------------------------------------------------


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="One benchmark measurement per process.")
    sub = parser.add_subparsers(dest="what", required=True)
    # (name, -n default, -n help, whether it compares raw and leaf in one process)
    for name, n, unit, both in (
        ("mix", 20_000, "requests", False),
        ("bulk", 20_000, "operations", False),
        ("interleave", 1_000, "requests per batch", True),
        ("bulk-interleave", 2_000, "operations per batch", True),
    ):
        p = sub.add_parser(name)
        if both:
            p.add_argument("--rounds", type=int, default=41 if name == "interleave" else 31)
        else:
            p.add_argument("--client", choices=("raw", "leaf"), required=True)
        p.add_argument("--url", required=True)
        p.add_argument("-n", type=int, default=n, help=unit)
        p.add_argument("-c", "--concurrency", type=int, default=64)
        p.add_argument("--seed", type=int, default=1)
        p.add_argument("--core", type=int, default=0, help="pin the client to this core")
    p = sub.add_parser("plan")
    p.add_argument("--lines", type=int, required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)

    if args.what == "plan":
        size = write_plan(args.out, args.lines, args.seed)
        print(json.dumps({"lines": args.lines, "bytes": size}))
        return
    if args.core >= 0:
        pin(0, args.core)
    if args.what in ("interleave", "bulk-interleave"):
        both = measure_interleaved if args.what == "interleave" else measure_bulk_interleaved
        result = asyncio.run(both(args.url, args.n, args.rounds, args.concurrency, args.seed))
    else:
        measure = measure_mix if args.what == "mix" else measure_bulk
        result = asyncio.run(measure(args.client, args.url, args.n, args.concurrency, args.seed))
    result["pid"] = os.getpid()
    print(json.dumps(result))


if __name__ == "__main__":
    main()
