"""Apache Airflow integration: a ``leaf`` connection type, a hook and operators.

``pip install 'leaf-creds[airflow]'`` (Airflow 3). Airflow finds the
connection type through the ``apache_airflow_provider`` entry point, which
names :func:`get_provider_info`.

- :class:`LeafHook` turns an Airflow connection of type ``leaf`` into a
  :class:`leaf_creds.LeafSession`.
- :class:`LeafApplyOperator` runs one shard of a plan exactly as
  ``leaf-creds apply --shard K/N --out F --resume F`` does; map it over
  ``shard`` to run N workers.
- :class:`LeafAuditOperator` runs ``leaf-creds audit`` and returns the counts.
- :class:`LeafInviteOperator` runs ``leaf-creds invite`` (Magic Links).

``import leaf_creds`` never imports Airflow, nor does this package until its
hook or an operator is first used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._provider import get_provider_info

if TYPE_CHECKING:
    from ._hook import LeafHook
    from ._operators import LeafApplyOperator, LeafAuditOperator, LeafInviteOperator

__all__ = [
    "LeafApplyOperator",
    "LeafAuditOperator",
    "LeafHook",
    "LeafInviteOperator",
    "get_provider_info",
]

# Airflow's providers manager imports get_provider_info while Airflow itself
# is still starting up, so this package must not import Airflow on import:
# the hook and the operators load on first use.
_LAZY = {
    "LeafHook": "._hook",
    "LeafApplyOperator": "._operators",
    "LeafAuditOperator": "._operators",
    "LeafInviteOperator": "._operators",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'leaf_creds.airflow' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value
