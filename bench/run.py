"""Run every leaf_creds benchmark and print one table: ``python bench/run.py [--quick]``.

What it measures, against a canned local server (nginx when installed, else
bench/server.py's asyncio fallback), client pinned to core 0 and server to
core 1 on a machine with two or more cores:

- mix: the same seeded mix (50% get, 20% create, 20% delete, 10% events,
  Sentera and CNHI, random user ids) through raw aiohttp and through
  LeafSession, at concurrency 64 and 1;
- bulk: ``leaf.bulk()`` against a hand-written ``asyncio.Semaphore`` loop
  over raw aiohttp, same operations;
- apply: the peak RSS of ``leaf-creds apply`` over a 10,000-line and a
  1,000,000-line plan (streamed to disk first);
- import: ``import leaf_creds`` against ``import aiohttp``.

Every measurement runs in a fresh process, whose peak RSS is taken from
``os.wait4``. Raw and leaf runs alternate, and each ratio is the median of
the per-pair ratios, so drift of the machine cancels out. Under the table
each target gets PASS or MISS, and the exit status says it: 0 when every
target passed, 1 when one was missed (``--quick`` too: a short run's MISS is
a MISS, rerun without it to confirm). Nothing here is part of the test suite.

Client CPU per request against raw aiohttp *and* a naive attrs + cattrs SDK,
with issue 26's targets and a verdict, is ``bench/cpu.py``'s job: it pins
server and clients apart, interleaves repetitions in a balanced order and
can put another checkout side by side (``--baseline``).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import aiohttp

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from server import canned_server, pin, server_core  # noqa: E402 (bench/ is not a package)

WORKLOADS = str(HERE / "workloads.py")
CLIENT_CORE = 0
MIB = 1024.0  # ru_maxrss is in KiB on Linux


class Config:
    """How much of everything to run."""

    def __init__(self, quick: bool) -> None:
        self.quick = quick
        self.mix_n, self.mix_pairs = (5_000, 2) if quick else (20_000, 5)
        self.serial_n, self.serial_pairs = (500, 1) if quick else (2_000, 3)
        self.bulk_n, self.bulk_pairs = (5_000, 2) if quick else (20_000, 5)
        self.import_runs = 5 if quick else 15
        self.apply_small, self.apply_large = (1_000, 100_000) if quick else (10_000, 1_000_000)
        self.apply_timeout: float | None = 180.0


# -- running one measurement ----------------------------------------------


class Child:
    """What one measured process left: stdout, exit code, peak RSS, wall time."""

    def __init__(self, out: str, code: int, maxrss_kib: int, wall: float, timed_out: bool) -> None:
        self.out = out
        self.code = code
        self.maxrss_mib = maxrss_kib / MIB
        self.wall = wall
        self.timed_out = timed_out

    def json(self) -> dict[str, Any]:
        if self.code != 0:
            raise RuntimeError(f"a benchmark process failed ({self.code}):\n{self.out[-2000:]}")
        result: dict[str, Any] = json.loads(self.out.strip().splitlines()[-1])
        result["rss_mib"] = self.maxrss_mib
        return result


def run_child(
    argv: Sequence[str], *, timeout: float | None = None, env: dict[str, str] | None = None
) -> Child:
    """Run one process; reap it with ``os.wait4`` to get its own peak RSS."""
    with tempfile.TemporaryFile("w+") as out:
        started = time.perf_counter()
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=env)
        deadline = None if timeout is None else started + timeout
        timed_out = False
        while True:
            # Blocking when there is no deadline; else poll gently.
            pid, status, usage = os.wait4(proc.pid, 0 if deadline is None else os.WNOHANG)
            if pid:
                break
            assert deadline is not None
            if time.perf_counter() > deadline:
                timed_out = True
                proc.send_signal(signal.SIGTERM)
                deadline = None
                continue
            time.sleep(0.1)
        wall = time.perf_counter() - started
        # wait4 reaped it: tell Popen, so it does not try again.
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        return Child(out.read(), proc.returncode, usage.ru_maxrss, wall, timed_out)


def workload(what: str, client: str, url: str, n: int, concurrency: int) -> dict[str, Any]:
    argv = [sys.executable, WORKLOADS, what, "--client", client, "--url", url]
    argv += ["-n", str(n), "-c", str(concurrency), "--core", str(CLIENT_CORE)]
    result = run_child(argv).json()
    if result["errors"]:
        raise RuntimeError(f"{what} {client}: {result['errors']} requests failed")
    return result


def pairs(
    count: int, measure: Callable[[str], dict[str, Any]], progress: str
) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """Run raw and leaf alternately, ``count`` times; return the (raw, leaf) pairs."""
    out = []
    for i in range(count):
        _say(f"{progress} pair {i + 1}/{count}")
        if i % 2 == 0:
            raw = measure("raw")
            leaf = measure("leaf")
        else:
            leaf = measure("leaf")
            raw = measure("raw")
        out.append((raw, leaf))
    return out


def summarize(
    runs: list[tuple[dict[str, Any], dict[str, Any]]], keys: Sequence[str]
) -> dict[str, Any]:
    """Medians of each side, and the median of the per-pair leaf/raw ratios."""
    return {
        "raw": {k: statistics.median(r[k] for r, _ in runs) for k in keys},
        "leaf": {k: statistics.median(lf[k] for _, lf in runs) for k in keys},
        "ratio": {k: statistics.median(lf[k] / r[k] for r, lf in runs) for k in keys},
        "ratio_range": {
            k: (min(lf[k] / r[k] for r, lf in runs), max(lf[k] / r[k] for r, lf in runs))
            for k in keys
        },
        "pairs": len(runs),
    }


# -- the sections ---------------------------------------------------------

MIX_KEYS = ("rps", "cpu_ms_per_1k", "p50_ms", "p99_ms", "rss_mib")
BULK_KEYS = ("rps", "cpu_ms_per_1k", "rss_mib")


def bench_mix(url: str, n: int, concurrency: int, count: int) -> dict[str, Any]:
    runs = pairs(
        count,
        lambda client: workload("mix", client, url, n, concurrency),
        f"mix c={concurrency} n={n:,}",
    )
    return summarize(runs, MIX_KEYS) | {"n": n, "concurrency": concurrency}


def bench_bulk(url: str, n: int, count: int) -> dict[str, Any]:
    runs = pairs(
        count, lambda client: workload("bulk", client, url, n, 64), f"bulk n={n:,}"
    )
    return summarize(runs, BULK_KEYS) | {"n": n, "concurrency": 64}


_IMPORT = (
    "import sys, time; t = time.perf_counter(); import {module}; "
    "print(time.perf_counter() - t, 'rich' in sys.modules)"
)


def bench_import(runs: int) -> dict[str, Any]:
    """Median in-process time of each import, in fresh interpreters, alternating."""
    times: dict[str, list[float]] = {"aiohttp": [], "leaf_creds": []}
    rich = False
    for module in times:  # once each, unmeasured: write the .pyc files
        run_child([sys.executable, "-c", _IMPORT.format(module=module)])
    for i in range(runs):
        order = list(times) if i % 2 == 0 else list(reversed(times))
        for module in order:
            child = run_child([sys.executable, "-c", _IMPORT.format(module=module)])
            seconds, loaded_rich = child.out.split()
            times[module].append(float(seconds) * 1e3)
            rich = rich or (module == "leaf_creds" and loaded_rich == "True")
    ratios = [lc / ai for ai, lc in zip(times["aiohttp"], times["leaf_creds"], strict=True)]
    return {
        "aiohttp_ms": statistics.median(times["aiohttp"]),
        "leaf_creds_ms": statistics.median(times["leaf_creds"]),
        "ratio": statistics.median(ratios),
        "runs": runs,
        "imports_rich": rich,
    }


def _cli() -> list[str] | None:
    exe = Path(sys.executable).with_name("leaf-creds")
    if exe.exists():
        return [str(exe)]
    found = shutil.which("leaf-creds")
    return [found] if found else None


def bench_apply(url: str, small: int, large: int, timeout: float | None) -> dict[str, Any]:
    """Peak RSS of ``leaf-creds apply`` over a small and a large generated plan."""
    cli = _cli()
    if cli is None:
        return {"skipped": "the leaf-creds command is not installed"}
    out: dict[str, Any] = {}
    env = dict(os.environ, LEAF_TOKEN=_token(), LEAF_BASE_URL=url)
    with tempfile.TemporaryDirectory(prefix="leaf-bench-apply-") as tmp:
        for label, lines in (("small", small), ("large", large)):
            plan = Path(tmp) / f"plan-{lines}.jsonl"
            result = Path(tmp) / f"out-{lines}.jsonl"
            _say(f"apply: writing a {lines:,}-line plan")
            run_child(
                [sys.executable, WORKLOADS, "plan", "--lines", str(lines), "--out", str(plan)]
            ).json()
            _say(f"apply: {lines:,} lines")
            argv = [*cli, "apply", str(plan), "--out", str(result), *_apply_options(url)]
            child = run_child(argv, timeout=timeout, env=env)
            done = _count_lines(result)
            if child.code != 0 and not child.timed_out:
                raise RuntimeError(f"leaf-creds apply failed ({child.code}):\n{child.out[-2000:]}")
            out[label] = {
                "lines": lines,
                "done": done,
                "wall_s": child.wall,
                "rate": done / child.wall,
                "rss_mib": child.maxrss_mib,
                "timed_out": child.timed_out,
            }
            plan.unlink()
            result.unlink(missing_ok=True)
    out["ratio"] = out["large"]["rss_mib"] / out["small"]["rss_mib"]
    return out


def _token() -> str:
    from server import TOKEN

    return TOKEN


def _apply_options(url: str) -> list[str]:
    return ["--base-url", url, "--concurrency", "64", "--progress", "never"]


def _count_lines(path: Path) -> int:
    """Count the outcome lines of a results file, not its "started" lines."""
    if not path.exists():
        return 0
    with path.open("rb") as f:
        return sum(b'"started": true' not in line for line in f)


# -- the table ------------------------------------------------------------


def _say(text: str) -> None:
    print(f"  .. {text}", file=sys.stderr, flush=True)


def _row(cells: Sequence[str], widths: Sequence[int]) -> str:
    first, *rest = cells
    right = "".join(c.rjust(w) for c, w in zip(rest, widths[1:], strict=True))
    return (first.ljust(widths[0]) + right).rstrip()


def _fmt(value: float, digits: int = 1) -> str:
    return f"{value:,.{digits}f}"


def table(results: dict[str, Any]) -> str:
    lines: list[str] = []
    meta = results["meta"]
    lines.append(
        f"leaf_creds benchmarks: server {meta['server']}, client core {meta['client_core']}, "
        f"server core {meta['server_core']}, {meta['cpus']} CPUs, Python {meta['python']}, "
        f"aiohttp {meta['aiohttp']}{', QUICK' if meta['quick'] else ''}"
    )
    widths = (26, 11, 12, 10, 10, 14)
    for key in ("mix64", "mix1"):
        mix = results.get(key)
        if not mix:
            continue
        lines.append("")
        lines.append(
            f"Mix at concurrency {mix['concurrency']}: {mix['n']:,} requests per run, "
            f"median of {mix['pairs']} runs each"
        )
        lines.append(_row(["", "req/s", "CPU ms/1k", "p50 ms", "p99 ms", "peak RSS MiB"], widths))
        for side, name in (("raw", "raw aiohttp + json.loads"), ("leaf", "LeafSession")):
            m = mix[side]
            lines.append(_row([
                name, _fmt(m["rps"], 0), _fmt(m["cpu_ms_per_1k"]), _fmt(m["p50_ms"], 2),
                _fmt(m["p99_ms"], 2), _fmt(m["rss_mib"]),
            ], widths))
        r = mix["ratio"]
        lines.append(_row([
            "ratio leaf/raw", _fmt(r["rps"], 3), _fmt(r["cpu_ms_per_1k"], 3), _fmt(r["p50_ms"], 3),
            _fmt(r["p99_ms"], 3), _fmt(r["rss_mib"], 3),
        ], widths))
        low, high = mix["ratio_range"]["cpu_ms_per_1k"]
        lines.append(f"  CPU ratio of single pairs: {low:.3f} to {high:.3f}")
        cross = results.get("interleaved")
        if key == "mix64" and cross:
            rounds = cross["n"] // cross["batch"]
            lines.append(
                f"  in one process, {rounds} alternating pairs of {cross['batch']:,}-request "
                f"batches: CPU ms/1k raw {cross['raw_cpu_ms_per_1k']:.1f}, "
                f"leaf {cross['leaf_cpu_ms_per_1k']:.1f}, ratio {cross['ratio']:.3f} "
                f"(middle half of pairs {cross['ratio_q1']:.3f} to {cross['ratio_q3']:.3f})"
            )
    bulk = results.get("bulk")
    if bulk:
        widths_b = (26, 11, 12, 14)
        lines.append("")
        lines.append(
            f"Bulk: {bulk['n']:,} operations at concurrency {bulk['concurrency']}, "
            f"median of {bulk['pairs']} runs each"
        )
        lines.append(_row(["", "ops/s", "CPU ms/1k", "peak RSS MiB"], widths_b))
        for side, name in (("raw", "Semaphore loop, raw"), ("leaf", "leaf.bulk()")):
            m = bulk[side]
            lines.append(_row(
                [name, _fmt(m["rps"], 0), _fmt(m["cpu_ms_per_1k"]), _fmt(m["rss_mib"])], widths_b
            ))
        r = bulk["ratio"]
        lines.append(_row([
            "ratio leaf/raw", _fmt(r["rps"], 3), _fmt(r["cpu_ms_per_1k"], 3), _fmt(r["rss_mib"], 3)
        ], widths_b))
        low, high = bulk["ratio_range"]["rps"]
        lines.append(f"  throughput ratio of single pairs: {low:.3f} to {high:.3f}")
        cross = results.get("bulk_interleaved")
        if cross:
            rounds = cross["n"] // cross["batch"]
            lines.append(
                f"  in one process, {rounds} alternating pairs of {cross['batch']:,}-operation "
                f"batches: ops/s raw {cross['raw_rps']:,.0f}, leaf {cross['leaf_rps']:,.0f}, "
                f"ratio {cross['ratio']:.3f} "
                f"(middle half of pairs {cross['ratio_q1']:.3f} to {cross['ratio_q3']:.3f})"
            )
    apply_ = results.get("apply")
    if apply_:
        lines.append("")
        if "skipped" in apply_:
            lines.append(f"Apply: skipped ({apply_['skipped']})")
        else:
            widths_a = (26, 11, 12, 14)
            lines.append("Apply: leaf-creds apply PLAN --out FILE")
            lines.append(_row(["", "wall s", "lines/s", "peak RSS MiB"], widths_a))
            for label in ("small", "large"):
                a = apply_[label]
                name = f"{a['lines']:,} lines" + (
                    f" (stopped at {a['done']:,})" if a["timed_out"] else ""
                )
                lines.append(_row(
                    [name, _fmt(a["wall_s"]), _fmt(a["rate"], 0), _fmt(a["rss_mib"])], widths_a
                ))
            lines.append(_row(["ratio large/small", "", "", _fmt(apply_["ratio"], 3)], widths_a))
    imp = results.get("import")
    if imp:
        widths_i = (26, 11)
        lines.append("")
        lines.append(f"Import, in fresh interpreters: median of {imp['runs']} runs")
        lines.append(_row(["", "ms"], widths_i))
        lines.append(_row(["import aiohttp", _fmt(imp["aiohttp_ms"])], widths_i))
        lines.append(_row(
            ["import leaf_creds" + (" (loads rich!)" if imp["imports_rich"] else ""),
             _fmt(imp["leaf_creds_ms"])], widths_i,
        ))
        lines.append(_row(["ratio", _fmt(imp["ratio"], 3)], widths_i))
    lines.append("")
    lines.append("Targets")
    for name, value, ok in targets(results):
        lines.append(f"  {'PASS' if ok else 'MISS'}  {name}: {value}")
    lines.append("  (CPU per request against a naive SDK, issue 26's targets: bench/cpu.py)")
    return "\n".join(lines)


def targets(results: dict[str, Any]) -> list[tuple[str, str, bool]]:
    out = []
    cross = results.get("interleaved")
    if cross:
        # Judged in one process: separate runs of the same client differ by
        # up to a third on a shared VM (see bench/README.md), alternating
        # short batches do not. The separate-process median is shown too.
        ratio = cross["ratio"]
        fresh = results["mix64"]["ratio"]["cpu_ms_per_1k"]
        out.append((
            "CPU/request leaf/raw at c=64 <= 1.10 (alternating batches, one process)",
            f"{ratio:.3f} (separate processes: {fresh:.3f})",
            ratio <= 1.10,
        ))
    elif "mix64" in results:
        ratio = results["mix64"]["ratio"]["cpu_ms_per_1k"]
        out.append(("CPU/request leaf/raw at c=64 <= 1.10", f"{ratio:.3f}", ratio <= 1.10))
    bulk_cross = results.get("bulk_interleaved")
    if bulk_cross:
        ratio = bulk_cross["ratio"]
        fresh = results["bulk"]["ratio"]["rps"]
        out.append((
            "leaf.bulk() throughput >= 0.90 of the semaphore loop (alternating batches)",
            f"{ratio:.3f} (separate processes: {fresh:.3f})",
            ratio >= 0.90,
        ))
    elif "bulk" in results:
        ratio = results["bulk"]["ratio"]["rps"]
        out.append(("leaf.bulk() throughput >= 0.90 of the semaphore loop", f"{ratio:.3f}",
                    ratio >= 0.90))
    apply_ = results.get("apply")
    if apply_ and "skipped" not in apply_:
        large = apply_["large"]
        out.append((f"apply {large['lines']:,} lines peak RSS <= 100 MiB",
                    f"{large['rss_mib']:.1f} MiB", large["rss_mib"] <= 100))
        out.append(("apply large/small peak RSS within 10%", f"{apply_['ratio']:.3f}",
                    abs(apply_["ratio"] - 1) <= 0.10))
    if "import" in results:
        ratio = results["import"]["ratio"]
        out.append(("import leaf_creds <= 1.25x import aiohttp", f"{ratio:.3f}", ratio <= 1.25))
    return out


def collect(only: Sequence[str], server: str, config: Config) -> dict[str, Any]:
    """Run the chosen sections; return their results."""
    started = time.perf_counter()
    # Children inherit the client core; the server pins itself to the other.
    with contextlib.suppress(OSError):
        pin(0, CLIENT_CORE)
    results: dict[str, Any] = {}
    with canned_server(server) as (url, kind):
        results["meta"] = {
            "server": kind,
            "client_core": CLIENT_CORE if (os.cpu_count() or 1) > 1 else "any",
            "server_core": server_core() if (os.cpu_count() or 1) > 1 else "any",
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "aiohttp": aiohttp.__version__,
            "quick": config.quick,
        }
        if "mix" in only:
            results["mix64"] = bench_mix(url, config.mix_n, 64, config.mix_pairs)
            # The same comparison inside one process, in alternating batches of
            # 1,000: drift of a busy or throttled machine hits both sides alike.
            _say("mix c=64 interleaved cross-check")
            results["interleaved"] = run_child([
                sys.executable, WORKLOADS, "interleave", "--url", url,
                "--rounds", "11" if config.quick else "61", "--core", str(CLIENT_CORE),
            ]).json()  # fmt: skip
            results["mix1"] = bench_mix(url, config.serial_n, 1, config.serial_pairs)
        if "bulk" in only:
            results["bulk"] = bench_bulk(url, config.bulk_n, config.bulk_pairs)
            _say("bulk interleaved cross-check")
            results["bulk_interleaved"] = run_child([
                sys.executable, WORKLOADS, "bulk-interleave", "--url", url,
                "--rounds", "7" if config.quick else "31", "--core", str(CLIENT_CORE),
            ]).json()  # fmt: skip
        if "apply" in only:
            results["apply"] = bench_apply(
                url, config.apply_small, config.apply_large, config.apply_timeout
            )
    if "import" in only:
        results["import"] = bench_import(config.import_runs)
    results["meta"]["seconds"] = time.perf_counter() - started
    return results


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a short run (about a minute)")
    parser.add_argument("--server", choices=("auto", "nginx", "asyncio"), default="auto")
    parser.add_argument(
        "--only", nargs="+", choices=("mix", "bulk", "apply", "import"),
        default=["mix", "bulk", "apply", "import"],
    )
    parser.add_argument("--json", metavar="PATH", help="also write the raw results here")
    parser.add_argument(
        "--apply-timeout", type=float, default=180.0, metavar="S",
        help="stop each apply run after S seconds and report its rate (0: no limit)",
    )
    args = parser.parse_args(argv)
    config = Config(args.quick)
    config.apply_timeout = args.apply_timeout or None
    # Import times and RSS as an installed package has them: from bytecode.
    # The cache goes to a temporary directory, so the work tree stays clean
    # even where PYTHONDONTWRITEBYTECODE is set (it is dropped for children).
    with tempfile.TemporaryDirectory(prefix="leaf-bench-pyc-") as pycache:
        os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
        os.environ["PYTHONPYCACHEPREFIX"] = pycache
        results = collect(args.only, args.server, config)
    print(table(results))
    print(f"\n(took {results['meta']['seconds']:.0f} s)")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    missed = [name for name, _, ok in targets(results) if not ok]
    if missed:
        print(f"MISSED {len(missed)} target(s): " + "; ".join(missed), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
