"""Client CPU per request, leaf_creds against raw aiohttp and a naive SDK: ``python bench/cpu.py``.

The method of issue 26, made to resist a noisy machine:

- each client is a fresh process pinned to core 1 (``taskset -c 1``), the
  canned server pinned to core 0 (Debian's nginx when ``nginx`` is on PATH,
  else bench/server.py's asyncio server);
- every client runs the same seeded mix (50% get, 20% create, 20% delete,
  10% events, Sentera and CNHI) from the same driver, ``--n`` requests at
  ``--concurrency`` after 200 untimed ones; CPU is ``time.process_time()``
  over the timed part;
- ``--reps`` repetitions, each running raw, naive and leaf in turn (and
  ``leaf@baseline`` with ``--baseline``), the order rotated per repetition
  (see :func:`orders`); each CPU figure is the median of the
  per-repetition ratios;
- a latency section runs the same clients at concurrency 1 and compares the
  medians of their p50 latencies.

The clients are in bench/cpu_clients/. It prints a verdict per target and
exits 1 when one is missed (2 when a run fails): a benchmark to run by
hand, not a test.
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
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, NamedTuple

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from server import _free_port, _wait_listening, nginx_config  # noqa: E402 (bench/ is not a package)

CLIENTS_DIR = HERE / "cpu_clients"
SERVER_CORE, CLIENT_CORE = 0, 1
RAW, NAIVE, LEAF, BASELINE = "raw", "naive", "leaf", "leaf@baseline"

# (name, numerator, denominator, ceiling or None for a figure shown only)
CPU_TARGETS = (
    ("CPU/request leaf/raw, c={c}", LEAF, RAW, 1.05),
    ("CPU/request leaf/naive, c={c}", LEAF, NAIVE, 1.00),
    ("CPU/request naive/raw, c={c}", NAIVE, RAW, None),
    ("CPU/request leaf/baseline, c={c}", LEAF, BASELINE, None),
)
LATENCY_TARGETS = (
    ("p50 latency leaf/raw, c=1", LEAF, RAW, 1.05),
    ("p50 latency leaf/baseline, c=1", LEAF, BASELINE, None),
)


class Client(NamedTuple):
    name: str
    script: Path
    tree: Path | None  # the checkout leaf_creds is imported from, for leaf clients


# -- processes, cores and the server --------------------------------------


def _cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1


def pinned(core: int) -> tuple[list[str], Any]:
    """Return ``(argv prefix, preexec_fn)`` that run a command on one core."""
    if _cores() < 2:
        return [], None
    taskset = shutil.which("taskset")
    if taskset:
        return [taskset, "-c", str(core)], None
    return [], lambda: os.sched_setaffinity(0, {core})


@contextlib.contextmanager
def canned_server(kind: str) -> Iterator[tuple[str, str]]:
    """Start the canned server on ``SERVER_CORE``; yield ``(url, kind)``; stop it."""
    nginx = shutil.which("nginx") or (
        "/usr/sbin/nginx" if os.access("/usr/sbin/nginx", os.X_OK) else None
    )
    if kind == "auto":
        kind = "nginx" if nginx else "asyncio"
    prefix, preexec = pinned(SERVER_CORE)
    with tempfile.TemporaryDirectory(prefix="leaf-bench-cpu-") as tmp:
        if kind == "nginx":
            if nginx is None:
                raise RuntimeError("nginx is not installed (apt-get install -y nginx)")
            port = _free_port()
            (Path(tmp) / "tmp").mkdir()
            conf = Path(tmp) / "nginx.conf"
            conf.write_text(nginx_config(port))
            # The worker inherits the master's affinity.
            argv = [*prefix, nginx, "-p", tmp, "-c", str(conf), "-e", "stderr"]
            proc = subprocess.Popen(argv, preexec_fn=preexec)
            stop = signal.SIGQUIT  # nginx's graceful stop
        else:
            argv = [*prefix, sys.executable, str(HERE / "server.py"), "--port", "0"]
            proc = subprocess.Popen(argv, stdout=subprocess.PIPE, preexec_fn=preexec)
            assert proc.stdout is not None
            line = proc.stdout.readline()
            if not line.strip():
                proc.wait()
                raise RuntimeError("the asyncio canned server did not start")
            port = int(line)
            stop = signal.SIGTERM
        try:
            _wait_listening(port, proc)
            yield f"http://127.0.0.1:{port}", kind
        finally:
            proc.send_signal(stop)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            if proc.stdout is not None:
                proc.stdout.close()


def run_client(
    client: Client, url: str, n: int, concurrency: int, warmup: int, heap_as_is: bool
) -> dict[str, Any]:
    """Run one client process on ``CLIENT_CORE``; return its RESULT."""
    prefix, preexec = pinned(CLIENT_CORE)
    argv = [*prefix, sys.executable, str(client.script), "--url", url, "--n", str(n)]
    argv += ["--concurrency", str(concurrency), "--warmup", str(warmup), "--label", client.name]
    if heap_as_is:
        argv.append("--heap-as-is")
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    if client.tree is not None:
        env["PYTHONPATH"] = str(client.tree)
    done = subprocess.run(
        argv, env=env, preexec_fn=preexec, capture_output=True, text=True, timeout=600,
        check=False,
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    if done.returncode != 0 or not lines:
        raise RuntimeError(
            f"{client.name} failed ({done.returncode}):\n{(done.stdout + done.stderr)[-2000:]}"
        )
    result: dict[str, Any] = json.loads(lines[-1][len("RESULT ") :])
    if client.tree is not None:
        loaded = Path(result.get("leaf_creds", ""))
        if loaded != (client.tree / "leaf_creds").resolve():
            raise RuntimeError(f"{client.name} loaded leaf_creds from {loaded}, not {client.tree}")
    return result


def orders(count: int) -> list[list[int]]:
    """Return the client orders of successive repetitions: a balanced Latin square.

    Each client goes first in turn, and each one runs right after each other
    one equally often (Williams' design; an odd count needs the mirrored
    rows too), so neither a client's position nor its predecessor favours
    it in the median.
    """
    first = [0]
    for i in range(1, count):
        first.append((i + 1) // 2 if i % 2 else count - i // 2)
    rows = [[(c + shift) % count for c in first] for shift in range(count)]
    if count % 2:
        rows += [row[::-1] for row in rows]
    return rows


def rotated(clients: Sequence[Client], rep: int) -> list[Client]:
    """The clients in the order of repetition ``rep``."""
    rows = orders(len(clients))
    return [clients[i] for i in rows[rep % len(rows)]]


def repetitions(
    clients: Sequence[Client],
    url: str,
    reps: int,
    n: int,
    concurrency: int,
    args: argparse.Namespace,
) -> list[dict[str, dict[str, Any]]]:
    """Run every client once per repetition, in rotated order; return ``[{name: result}]``."""
    out = []
    for rep in range(reps):
        order = rotated(clients, rep)
        _say(f"c={concurrency} n={n:,} rep {rep + 1}/{reps}: {', '.join(c.name for c in order)}")
        out.append({
            c.name: run_client(c, url, n, concurrency, args.warmup, args.heap_as_is)
            for c in order
        })
    return out


# -- figures --------------------------------------------------------------


Runs = Sequence[dict[str, dict[str, Any]]]  # one {client name: RESULT} per repetition


def ratios(runs: Runs, top: str, bottom: str, key: str) -> list[float]:
    """``top``/``bottom`` of ``key``, one per repetition."""
    return [rep[top][key] / rep[bottom][key] for rep in runs if top in rep and bottom in rep]


def spread(values: Sequence[float]) -> dict[str, float]:
    return {"min": min(values), "median": statistics.median(values), "max": max(values)}


def summarize(
    runs: Runs,
    targets: Sequence[tuple[str, str, str, float | None]],
    key: str,
    concurrency: int,
    of_medians: bool,
) -> dict[str, Any]:
    """Per-client medians, and each target's ratio.

    ``of_medians``: the figure is the ratio of the two clients' medians (for
    latency), else the median of the per-repetition ratios (for CPU). Either
    way min and max are those of the per-repetition ratios.
    """
    names = [name for name in (RAW, NAIVE, LEAF, BASELINE) if name in runs[0]]
    medians = {
        name: {k: statistics.median(rep[name][k] for rep in runs) for k in _KEYS}
        for name in names
    }
    checks = []
    for label, top, bottom, ceiling in targets:
        per_rep = ratios(runs, top, bottom, key)
        if not per_rep:
            continue
        figure = spread(per_rep)
        value = medians[top][key] / medians[bottom][key] if of_medians else figure["median"]
        checks.append({
            "target": label.format(c=concurrency), "top": top, "bottom": bottom,
            "value": value, **{f"rep_{k}": v for k, v in figure.items()},
            "ceiling": ceiling, "ok": None if ceiling is None else value <= ceiling,
            "per_rep": per_rep,
        })
    return {"medians": medians, "checks": checks, "reps": len(runs), "key": key}


_KEYS = ("cpu_us_per_req", "rps", "p50_us", "p99_us", "sys_s", "minflt")


# -- the report -----------------------------------------------------------


def _say(text: str) -> None:
    print(f"  .. {text}", file=sys.stderr, flush=True)


def report(results: dict[str, Any]) -> str:
    meta = results["meta"]
    lines = [
        f"leaf_creds CPU per request: server {meta['server']} on core {meta['server_core']}, "
        f"clients on core {meta['client_core']}, {meta['cpus']} CPUs, Python {meta['python']}"
        f"{', QUICK' if meta['quick'] else ''}",
        f"leaf: {meta['tree']}" + (f"   baseline: {meta['baseline']}" if meta["baseline"] else ""),
    ]
    for section, title in (("cpu", "c={c}, {n:,} requests"), ("latency", "c=1, {n:,} requests")):
        part = results.get(section)
        if not part:
            continue
        lines += ["", title.format(c=part["concurrency"], n=part["n"])
                  + f", medians of {part['reps']} repetitions"]
        lines.append(f"{'client':16}{'CPU us/req':>12}{'req/s':>10}{'p50 us':>10}"
                     f"{'p99 us':>10}{'sys s':>8}{'minflt':>8}")
        for name, m in part["medians"].items():
            lines.append(
                f"{name:16}{m['cpu_us_per_req']:12.1f}{m['rps']:10,.0f}{m['p50_us']:10,.0f}"
                f"{m['p99_us']:10,.0f}{m['sys_s']:8.3f}{m['minflt']:8.0f}"
            )
    checks = [c for part in ("cpu", "latency") for c in results.get(part, {}).get("checks", [])]
    if checks:
        lines += ["", f"{'':6}{'figure':36}{'value':>8}{'min':>8}{'max':>8}   target"]
        for c in checks:
            verdict = "" if c["ok"] is None else "PASS" if c["ok"] else "MISS"
            target = "" if c["ceiling"] is None else f"<= {c['ceiling']:.2f}"
            lines.append(
                f"{verdict:6}{c['target']:36}{c['value']:8.3f}{c['rep_min']:8.3f}"
                f"{c['rep_max']:8.3f}   {target}".rstrip()
            )
        lines.append(
            "(CPU: median of per-repetition ratios; latency: ratio of median p50s; "
            "min/max: single repetitions)"
        )
    return "\n".join(lines)


# -- the command line -----------------------------------------------------


def _tree(value: str) -> Path:
    path = Path(value).resolve()
    if not (path / "leaf_creds" / "__init__.py").is_file():
        raise argparse.ArgumentTypeError(f"{value} has no leaf_creds/ package")
    return path


def _commit(tree: Path) -> str:
    done = subprocess.run(
        ["git", "-C", str(tree), "describe", "--always", "--dirty"],
        capture_output=True, text=True, check=False,
    )
    return f"{tree} ({done.stdout.strip()})" if done.returncode == 0 else str(tree)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, help="timed requests per run at c=64 (20,000)")
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--reps", type=int, help="interleaved repetitions (7)")
    parser.add_argument("--latency-n", type=int, help="timed requests per run at c=1 (2,000)")
    parser.add_argument("--warmup", type=int, default=200, help="untimed requests per run")
    parser.add_argument("--quick", action="store_true", help="a smoke run: small n, 3 reps")
    parser.add_argument("--only", nargs="+", choices=("cpu", "latency"),
                        default=["cpu", "latency"])
    parser.add_argument("--tree", type=_tree, default=HERE.parent, metavar="PATH",
                        help="the checkout the leaf client imports leaf_creds from (this one)")
    parser.add_argument("--baseline", type=_tree, metavar="PATH",
                        help="another checkout, measured as a 4th client 'leaf@baseline'")
    parser.add_argument("--server", choices=("auto", "nginx", "asyncio"), default="auto")
    parser.add_argument("--heap-as-is", action="store_true",
                        help="do not settle glibc's mmap threshold in the clients")
    parser.add_argument("--json", metavar="FILE", help="also write every result here")
    args = parser.parse_args(argv)
    quick_n, quick_reps, quick_latency = 5_000, 3, 500
    args.n = args.n or (quick_n if args.quick else 20_000)
    args.reps = args.reps or (quick_reps if args.quick else 7)
    args.latency_n = args.latency_n or (quick_latency if args.quick else 2_000)
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    # A SIGTERM unwinds like Ctrl-C, so the server is stopped, not orphaned.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    clients = [
        Client(RAW, CLIENTS_DIR / "raw.py", None),
        Client(NAIVE, CLIENTS_DIR / "naive.py", None),
        Client(LEAF, CLIENTS_DIR / "leaf.py", args.tree),
    ]
    if args.baseline:
        clients.append(Client(BASELINE, CLIENTS_DIR / "leaf.py", args.baseline))
    started = time.perf_counter()
    results: dict[str, Any] = {}
    # Bytecode goes to a temporary cache: the checkouts stay clean.
    with tempfile.TemporaryDirectory(prefix="leaf-bench-pyc-") as pycache:
        os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
        os.environ["PYTHONPYCACHEPREFIX"] = pycache
        try:
            with canned_server(args.server) as (url, kind):
                multi = _cores() > 1
                results["meta"] = {
                    "server": kind, "server_core": SERVER_CORE if multi else "any",
                    "client_core": CLIENT_CORE if multi else "any", "cpus": os.cpu_count(),
                    "python": platform.python_version(), "quick": args.quick,
                    "tree": _commit(args.tree),
                    "baseline": _commit(args.baseline) if args.baseline else None,
                    "heap_as_is": args.heap_as_is,
                }
                if "cpu" in args.only:
                    runs = repetitions(clients, url, args.reps, args.n, args.concurrency, args)
                    results["cpu"] = summarize(
                        runs, CPU_TARGETS, "cpu_us_per_req", args.concurrency, of_medians=False
                    ) | {"n": args.n, "concurrency": args.concurrency, "runs": runs}
                if "latency" in args.only:
                    runs = repetitions(clients, url, args.reps, args.latency_n, 1, args)
                    results["latency"] = summarize(
                        runs, LATENCY_TARGETS, "p50_us", 1, of_medians=True
                    ) | {"n": args.latency_n, "concurrency": 1, "runs": runs}
        except (RuntimeError, subprocess.TimeoutExpired) as exc:
            print(f"cpu.py: {exc}", file=sys.stderr)
            return 2
    results["meta"]["seconds"] = time.perf_counter() - started
    print(report(results))
    print(f"\n(took {results['meta']['seconds']:.0f} s)")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    missed = [c for part in ("cpu", "latency") for c in results.get(part, {}).get("checks", [])
              if c["ok"] is False]
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
