"""leaf_creds through its public API: ``LeafSession`` with a token, typed resources.

It imports whichever ``leaf_creds`` comes first on ``sys.path``: ``bench/cpu.py``
puts the checkout it measures on ``PYTHONPATH`` (``--tree``, ``--baseline``),
and the RESULT line names the directory it was loaded from.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import harness
from server import TOKEN
from workloads import Call, leaf_client


@contextlib.asynccontextmanager
async def open_client(url: str) -> AsyncIterator[Call]:
    import leaf_creds

    async with leaf_creds.LeafSession(token=TOKEN, base_url=url) as leaf:
        yield leaf_client(leaf)


if __name__ == "__main__":
    harness.main("leaf", open_client)
