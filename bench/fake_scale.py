"""How the fake Leaf scales: ``python bench/fake_scale.py [N ...]`` (default 1000 10000 50000).

Runs ``leaf-creds demo --users N --progress never`` as a subprocess for each
N and prints one line per run: wall time, the user+sys CPU time of the
demo process (from ``os.wait4``; less noisy than wall time on a shared
machine), and pairs/s. A pair is one (user, provider) credential of the
demo's plan: 2 per user (Sentera and CNHI), each applied once and audited
once, so pairs/s = 2 N / wall seconds. The demo runs client and fake in one
process, so CPU time covers both. Time growing linearly in N means s/pair
stays flat. Nothing here is asserted: the figures are for reading.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DEFAULT_SIZES = (1_000, 10_000, 50_000)


def _command() -> list[str]:
    # The leaf-creds next to this interpreter (a venv), else the module.
    script = Path(sys.executable).with_name("leaf-creds")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "leaf_creds.cli"]


def run_once(users: int, timeout: float) -> dict[str, float | int | str]:
    """Run one demo of ``users`` users; return its figures."""
    with tempfile.TemporaryDirectory(prefix="fake-scale-") as workdir:
        argv = [*_command(), "demo", "--users", str(users), "--progress", "never",
                "--workdir", workdir]  # fmt: skip
        started = time.perf_counter()
        process = subprocess.Popen(
            argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
        )
        deadline = started + timeout
        while True:
            pid, status, usage = os.wait4(process.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() > deadline:
                process.kill()
                pid, status, usage = os.wait4(process.pid, 0)
                wall = time.perf_counter() - started
                return {"users": users, "result": f"stopped after {wall:.0f}s"}
            time.sleep(0.05)
        wall = time.perf_counter() - started
        stdout = process.stdout.read() if process.stdout else ""
        process.returncode = os.waitstatus_to_exitcode(status)
    summary = json.loads(stdout.splitlines()[-1]) if stdout.strip() else {}
    pairs = 2 * users
    return {
        "users": users,
        "pairs": pairs,
        "wall_s": round(wall, 2),
        "cpu_s": round(usage.ru_utime + usage.ru_stime, 2),
        "pairs_per_s": round(pairs / wall),
        "cpu_us_per_pair": round(1e6 * (usage.ru_utime + usage.ru_stime) / pairs),
        "peak_rss_mib": round(usage.ru_maxrss / 1024),
        "exit": process.returncode,
        "ok": summary.get("ok", "?"),
    }


def main() -> int:
    """Run the demo at each size and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sizes", nargs="*", type=int, default=list(DEFAULT_SIZES))
    parser.add_argument(
        "--timeout", type=float, default=600.0, help="seconds before a run is stopped"
    )
    parser.add_argument("--json", action="store_true", help="one JSON object a line")
    args = parser.parse_args()
    if not args.json:
        print(f"{'users':>7} {'wall s':>8} {'cpu s':>8} {'pairs/s':>8} "
              f"{'cpu us/pair':>12} {'RSS MiB':>8} {'exit':>5}")  # fmt: skip
    for users in args.sizes:
        row = run_once(users, args.timeout)
        if args.json:
            print(json.dumps(row), flush=True)
        elif "result" in row:
            print(f"{users:>7} {row['result']}", flush=True)
        else:
            print(f"{row['users']:>7} {row['wall_s']:>8} {row['cpu_s']:>8} "
                  f"{row['pairs_per_s']:>8} {row['cpu_us_per_pair']:>12} "
                  f"{row['peak_rss_mib']:>8} {row['exit']:>5}", flush=True)  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
