"""Ride a rate limit: ``leaf-creds apply`` against a fake Leaf that answers 429.

    python bench/ratelimit.py                    # all five runs, about 2 minutes
    python bench/ratelimit.py --only one shards  # some of them
    python bench/ratelimit.py --client-root /tmp/before   # the client of another checkout

The server is a :class:`leaf_creds.testing.FakeLeaf` of this checkout in a
process of its own, limited to ``--limit`` requests/s (a token bucket of
``--burst``), with one budget for every client, answering Leaf's 429 body.
It holds ``--ops`` Leaf users; the plan creates one Sentera credential for
each. The runs:

- one: one ``apply --concurrency 64`` worker, no ``--rate``;
- shards: four ``apply --shard K/4 --concurrency 32`` workers at once, in
  separate processes, sharing the limit;
- retry: one ``apply --concurrency 32`` worker of ``--retry-ops`` (600) lines
  against ``--retry-limit`` (100/s, burst 10) whose 429s say ``Retry-After:
  1`` (``--retry-after``), as some servers do and Leaf probably does not;
- token: ``apply`` of 2,000 lines with a token the server rejects;
- dead: ``apply`` of 2,000 lines against a port where nothing listens.

For each it prints goodput (2xx answers per second between the first and the
last request the server saw, as a share of the limit), the share of requests
answered 429, the lines that failed, and the exit status. ``--client-root``
runs the client from another checkout (``git worktree add /tmp/before HEAD``)
against this checkout's server, to measure "before".

Then it judges the targets of the runs it made, one line each, and exits 1
if one was missed (2 for bad arguments):

- one: goodput >= 0.98 of the limit, <= 1% of requests answered 429, every
  line ok exactly once, exit 0 (issue 26: one worker at Leaf's limit);
- shards: every line ok exactly once, every worker's exit 0;
- retry: every line ok exactly once, exit 0, goodput >= 0.4 of the limit
  (a Retry-After must not stop the pacing from learning the rate: it went
  at about 0.11 when it did, issue 19).

It is a benchmark, run by hand: nothing here is part of the test suite, and
a machine busy with other work can miss a target that a quiet one meets.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
BAD_TOKEN = "not-a-token-the-fake-knows"


# -- the server process ---------------------------------------------------


def serve(ops: int, limit: float, burst: int, retry_after: int = 0) -> None:
    """Run the rate-limited fake until SIGTERM; then print its figures as one JSON line.

    With ``retry_after``, its 429s say ``Retry-After: retry_after``.
    """
    sys.path.insert(0, str(ROOT))
    from aiohttp import web

    from leaf_creds.testing import FakeLeaf, RateLimit

    arrivals: list[float] = []

    class TimedLeaf(FakeLeaf):
        async def _handle(self, request: web.Request) -> web.StreamResponse:
            arrivals.append(time.monotonic())
            response = await super()._handle(request)
            if retry_after and response.status == 429:
                response.headers["Retry-After"] = str(retry_after)
            return response

    async def main() -> None:
        fake = TimedLeaf(rate_limit=RateLimit(per_second=limit, burst=burst))
        for number in range(ops):
            fake.add_user(id=_user(number))
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, stop.set)
        async with fake:
            print(json.dumps({"url": fake.url, "token": fake.token}), flush=True)
            await stop.wait()
            statuses = Counter(str(entry.status) for entry in fake.requests)
        span = arrivals[-1] - arrivals[0] if len(arrivals) > 1 else 0.0
        # Requests per second of the run, by status: where goodput was lost.
        timeline: list[dict[str, int]] = []
        for moment, entry in zip(arrivals, fake.requests, strict=False):
            second = int(moment - arrivals[0])
            while len(timeline) <= second:
                timeline.append({})
            key = str(entry.status)
            timeline[second][key] = timeline[second].get(key, 0) + 1
        print(json.dumps({"statuses": statuses, "span": span, "timeline": timeline}), flush=True)

    asyncio.run(main())


def _user(number: int) -> str:
    return f"user-{number:06d}"


class Server:
    """One fake Leaf process: its URL and token, and its figures once stopped."""

    def __init__(self, ops: int, limit: float, burst: int, retry_after: int = 0) -> None:
        self.process = subprocess.Popen(
            [sys.executable, __file__, "_serve", *map(str, (ops, limit, burst, retry_after))],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        hello = json.loads(self.process.stdout.readline())
        self.url: str = hello["url"]
        self.token: str = hello["token"]

    def stop(self) -> dict[str, Any]:
        self.process.send_signal(signal.SIGTERM)
        out, _ = self.process.communicate(timeout=60)
        figures: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
        return figures


# -- the client runs --------------------------------------------------------


def write_plan(path: Path, lines: int) -> None:
    with path.open("w") as plan:
        for number in range(lines):
            body = {"username": f"g{number}", "password": "pw-secret", "organizationName": "Acme"}
            plan.write(
                json.dumps(
                    {
                        "op": "create",
                        "provider": "sentera",
                        "leafUserId": _user(number),
                        "credentials": body,
                    }
                )
                + "\n"
            )


def apply(
    client_root: Path | None, url: str, token: str, plan: Path, out: Path, *extra: str
) -> subprocess.Popen[str]:
    env = dict(os.environ, LEAF_TOKEN=token, LEAF_BASE_URL=url)
    env.pop("LEAF_USERNAME", None)
    env.pop("LEAF_PASSWORD", None)
    if client_root is not None:
        env["PYTHONPATH"] = str(client_root)
    argv = [sys.executable, "-m", "leaf_creds.cli", "apply", str(plan), "--out", str(out)]
    return subprocess.Popen(
        [*argv, "--progress", "never", *extra],
        env=env,
        cwd=plan.parent,  # not the checkout: `-m` puts the working directory first on sys.path
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(process: subprocess.Popen[str], timeout: float = 600) -> tuple[int, str]:
    _, err = process.communicate(timeout=timeout)
    last = err.strip().splitlines()[-1] if err.strip() else ""
    return process.returncode, last


def read_outcomes(paths: Sequence[Path]) -> tuple[Counter[int], int]:
    """Return how often each line number was written, and how many outcomes failed."""
    seen: Counter[int] = Counter()
    failed = 0
    for path in paths:
        if not path.exists():
            continue
        for text in path.read_text().splitlines():
            if not text.strip():
                continue
            data = json.loads(text)
            if "ok" not in data:  # a "started" line
                continue
            seen[data["line"]] += 1
            failed += not data["ok"]
    return seen, failed


def figures(server: dict[str, Any], limit: float) -> dict[str, Any]:
    statuses: dict[str, int] = server["statuses"]
    total = sum(statuses.values())
    ok = sum(count for status, count in statuses.items() if status.startswith("2"))
    span = server["span"]
    return {
        "requests": total,
        "answered_2xx": ok,
        "answered_429": statuses.get("429", 0),
        "share_429": statuses.get("429", 0) / total if total else 0.0,
        "span_s": span,
        "goodput": ok / span / limit if span else 0.0,
        "timeline": server.get("timeline", []),
    }


def run_one(args: argparse.Namespace, tmp: Path, plan: Path) -> dict[str, Any]:
    server = Server(args.ops, args.limit, args.burst)
    out = tmp / "one.jsonl"
    started = time.monotonic()
    code, last = finish(
        apply(args.client_root, server.url, server.token, plan, out, "--concurrency", "64")
    )
    wall = time.monotonic() - started
    seen, failed = read_outcomes([out])
    result = figures(server.stop(), args.limit)
    ok_once = sum(1 for line in range(1, args.ops + 1) if seen[line] == 1) - failed
    return {**result, "wall_s": wall, "exit": code, "failed": failed, "ok_once": ok_once,
            "last_line": last}  # fmt: skip


def run_shards(args: argparse.Namespace, tmp: Path, plan: Path) -> dict[str, Any]:
    server = Server(args.ops, args.limit, args.burst)
    outs = [tmp / f"shard{k}.jsonl" for k in range(4)]
    started = time.monotonic()
    workers = []
    for k, out in enumerate(outs):
        options = ["--shard", f"{k}/4", "--concurrency", "32"]
        workers.append(apply(args.client_root, server.url, server.token, plan, out, *options))
    ends = [finish(worker) for worker in workers]
    wall = time.monotonic() - started
    seen, failed = read_outcomes(outs)
    result = figures(server.stop(), args.limit)
    once = sum(1 for line in range(1, args.ops + 1) if seen[line] == 1)
    return {**result, "wall_s": wall, "exit": [code for code, _ in ends], "failed": failed,
            "ok_once": once - failed, "twice": sum(1 for n in seen.values() if n > 1)}  # fmt: skip


def run_retry(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    limit, burst = args.retry_limit
    plan = tmp / "plan-retry.jsonl"
    write_plan(plan, args.retry_ops)
    server = Server(args.retry_ops, limit, burst, retry_after=args.retry_after)
    out = tmp / "retry.jsonl"
    started = time.monotonic()
    code, last = finish(
        apply(args.client_root, server.url, server.token, plan, out, "--concurrency", "32")
    )
    wall = time.monotonic() - started
    seen, failed = read_outcomes([out])
    result = figures(server.stop(), limit)
    ok_once = sum(1 for line in range(1, args.retry_ops + 1) if seen[line] == 1) - failed
    return {**result, "wall_s": wall, "exit": code, "failed": failed, "ok_once": ok_once,
            "ops": args.retry_ops, "limit": limit, "last_line": last}  # fmt: skip


def run_token(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    plan = tmp / "plan2000.jsonl"
    write_plan(plan, 2000)
    server = Server(2000, args.limit, args.burst)
    out = tmp / "token.jsonl"
    started = time.monotonic()
    code, last = finish(apply(args.client_root, server.url, BAD_TOKEN, plan, out))
    wall = time.monotonic() - started
    seen, failed = read_outcomes([out])
    statuses = server.stop()["statuses"]
    return {"requests": sum(statuses.values()), "wall_s": wall, "exit": code,
            "outcomes": sum(seen.values()), "failed": failed, "last_line": last}  # fmt: skip


def run_dead(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    plan = tmp / "plan2000.jsonl"
    if not plan.exists():
        write_plan(plan, 2000)
    with socket.socket() as sock:  # a port that was free a moment ago: nothing listens
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    out = tmp / "dead.jsonl"
    started = time.monotonic()
    process = apply(args.client_root, f"http://127.0.0.1:{port}", BAD_TOKEN, plan, out)
    try:
        code, last = finish(process, timeout=args.dead_timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        code, last = -9, f"stopped after {args.dead_timeout:g}s"
    wall = time.monotonic() - started
    seen, failed = read_outcomes([out])
    return {"wall_s": wall, "exit": code, "outcomes": sum(seen.values()), "failed": failed,
            "last_line": last}  # fmt: skip


def report(results: dict[str, Any]) -> str:
    lines = []
    for name in ("one", "shards", "retry"):
        r = results.get(name)
        if r:
            lines.append(
                f"{name:7} goodput {r['goodput']:.3f} of the limit, "
                f"{r['share_429']:.1%} answered 429 ({r['answered_429']} of {r['requests']}), "
                f"{r['failed']} line(s) failed, {r['ok_once']} ok exactly once, "
                f"{r['span_s']:.1f}s served, {r['wall_s']:.1f}s wall, exit {r['exit']}"
            )
    r = results.get("token")
    if r:
        lines.append(
            f"token   {r['requests']} request(s), {r['outcomes']} outcome(s) written, "
            f"{r['wall_s']:.1f}s, exit {r['exit']}: {r['last_line']}"
        )
    r = results.get("dead")
    if r:
        lines.append(
            f"dead    {r['outcomes']} outcome(s) written, {r['wall_s']:.1f}s, exit {r['exit']}: "
            f"{r['last_line']}"
        )
    return "\n".join(lines)


def verdicts(results: dict[str, Any], ops: int) -> list[tuple[str, bool]]:
    """Return each target of the runs made, and whether it was met."""
    judged: list[tuple[str, bool]] = []
    r = results.get("one")
    if r:
        judged += [
            (f"one: goodput {r['goodput']:.3f} >= 0.98", r["goodput"] >= 0.98),
            (f"one: {r['share_429']:.2%} answered 429 <= 1%", r["share_429"] <= 0.01),
            (f"one: {r['ok_once']} of {ops} lines ok exactly once, exit {r['exit']}",
             r["ok_once"] == ops and r["exit"] == 0),
        ]  # fmt: skip
    r = results.get("shards")
    if r:
        judged.append(
            (f"shards: {r['ok_once']} of {ops} lines ok exactly once, exits {r['exit']}",
             r["ok_once"] == ops and not any(r["exit"]))
        )  # fmt: skip
    r = results.get("retry")
    if r:
        judged += [
            (f"retry: goodput {r['goodput']:.3f} >= 0.4", r["goodput"] >= 0.4),
            (f"retry: {r['ok_once']} of {r['ops']} lines ok exactly once, exit {r['exit']}",
             r["ok_once"] == r["ops"] and r["exit"] == 0),
        ]  # fmt: skip
    return judged


def _limit_and_burst(text: str) -> tuple[float, int]:
    limit, _, burst = text.partition(":")
    try:
        return float(limit), int(burst or max(1, round(float(limit))))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not LIMIT:BURST: {text!r}") from None


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["_serve"]:
        serve(int(argv[1]), float(argv[2]), int(argv[3]), int(argv[4]))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--only", nargs="+", choices=("one", "shards", "retry", "token", "dead"),
        default=["one", "shards", "retry", "token", "dead"],
    )  # fmt: skip
    parser.add_argument("--ops", type=int, default=6000, help="plan lines (default 6000)")
    parser.add_argument("--limit", type=float, default=200.0, help="requests/s (default 200)")
    parser.add_argument("--burst", type=int, default=20, help="the bucket's size (default 20)")
    parser.add_argument("--retry-ops", type=int, default=600, help="retry: plan lines (600)")
    parser.add_argument(
        "--retry-limit", type=_limit_and_burst, default=(100.0, 10), metavar="LIMIT:BURST",
        help="retry: the limit, requests/s, and the bucket's size (default 100:10)",
    )  # fmt: skip
    parser.add_argument(
        "--retry-after", type=int, default=1, metavar="S", help="retry: its 429s' Retry-After"
    )
    parser.add_argument("--client-root", type=Path, help="run the client from this checkout")
    parser.add_argument("--dead-timeout", type=float, default=300.0, metavar="S")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the figures here")
    args = parser.parse_args(argv)
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="leaf-bench-ratelimit-") as name:
        tmp = Path(name)
        plan = tmp / "plan.jsonl"
        write_plan(plan, args.ops)
        for run in args.only:
            print(f"running {run}...", file=sys.stderr, flush=True)
            if run == "one":
                results[run] = run_one(args, tmp, plan)
            elif run == "shards":
                results[run] = run_shards(args, tmp, plan)
            elif run == "retry":
                results[run] = run_retry(args, tmp)
            elif run == "token":
                results[run] = run_token(args, tmp)
            else:
                results[run] = run_dead(args, tmp)
            print(report({run: results[run]}), flush=True)
    judged = verdicts(results, args.ops)
    for target, met in judged:
        print(f"{'ok    ' if met else 'MISSED'} {target}")
    results["targets"] = [{"target": target, "met": met} for target, met in judged]
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0 if all(met for _, met in judged) else 1


if __name__ == "__main__":
    sys.exit(main())
