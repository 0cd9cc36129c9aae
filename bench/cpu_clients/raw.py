"""The floor: hand-written aiohttp calls, stdlib ``json``, a status check.

It is ``bench/workloads.py``'s raw client, so ``run.py`` and ``cpu.py``
measure the same thing; it never imports leaf_creds.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import harness
from workloads import Call, raw_client, raw_session


@contextlib.asynccontextmanager
async def open_client(url: str) -> AsyncIterator[Call]:
    async with raw_session() as http:
        yield raw_client(http, url)


if __name__ == "__main__":
    harness.main("raw", open_client)
