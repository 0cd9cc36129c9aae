"""LeafHook: an Airflow connection of type ``leaf`` as a LeafSession."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from airflow.sdk import BaseHook
from airflow.sdk.log import mask_secret

from .._exceptions import ValidationError
from .._registry import Registry
from .._session import DEFAULT_BASE_URL, LeafSession

__all__ = ["LeafHook"]

_SCHEMES: Final = ("http", "https")


def _extra(extra: Mapping[str, Any], name: str) -> Any:
    # The UI may store a custom field with its old "extra__leaf__" prefix.
    value = extra.get(name)
    return extra.get(f"extra__leaf__{name}") if value in (None, "") else value


class LeafHook(BaseHook):  # type: ignore[misc]  # Airflow is not type-checked here
    """Build :class:`leaf_creds.LeafSession` objects from an Airflow connection.

    The connection (type ``leaf``):

    - ``host``: the base URL, e.g. ``https://api.withleaf.io`` (the default
      when empty). A host without a scheme gets ``https://`` (or the
      connection's ``schema`` when that is ``http``) and its ``port``.
    - ``login`` and ``password``: log in with that Leaf account; or
    - ``extra``: ``{"token": "..."}`` for a fixed bearer token (it wins over
      login and password). Also read from extra: ``remember_me`` and
      ``timeout``.

    The token and the password are registered with Airflow's secrets
    masker, so they print as ``***`` in task logs; the SDK never logs them.

    Args:
        leaf_conn_id: The Airflow connection id.
    """

    conn_name_attr = "leaf_conn_id"
    default_conn_name = "leaf_default"
    conn_type = "leaf"
    hook_name = "Leaf Agriculture"

    def __init__(self, leaf_conn_id: str = default_conn_name, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.leaf_conn_id = leaf_conn_id

    def session_options(self) -> dict[str, Any]:
        """Return the keyword arguments of ``LeafSession`` that the connection gives.

        Raises:
            ValidationError: The connection has neither a token nor a login
                and password.
        """
        conn = self.get_connection(self.leaf_conn_id)
        extra: Mapping[str, Any] = conn.extra_dejson or {}
        options: dict[str, Any] = {"base_url": self._base_url(conn)}
        token = _extra(extra, "token")
        if token:
            mask_secret(str(token))
            options["token"] = str(token).strip()
        elif conn.login and conn.password:
            mask_secret(conn.password)
            options["username"] = conn.login
            options["password"] = conn.password
            options["remember_me"] = bool(_extra(extra, "remember_me"))
        else:
            raise ValidationError(
                f"Airflow connection {self.leaf_conn_id!r} has no Leaf credentials: set "
                'extra {"token": ...}, or login and password'
            )
        timeout = _extra(extra, "timeout")
        if timeout not in (None, ""):
            try:
                options["timeout"] = float(timeout)
            except (TypeError, ValueError):
                raise ValidationError(
                    f"Airflow connection {self.leaf_conn_id!r}: timeout is not a number"
                ) from None
        return options

    def session(self, *, registry: Registry | None = None, **overrides: Any) -> LeafSession:
        """Return a new, unopened ``LeafSession`` for the connection.

        Use it as ``async with hook.session() as leaf: ...``.

        Args:
            registry: The providers slugs resolve to (the default registry
                when not given).
            overrides: Further ``LeafSession`` keyword arguments, e.g.
                ``rate_limit``; they win over the connection's.
        """
        options = {**self.session_options(), **overrides}
        if registry is not None:
            options["registry"] = registry
        return LeafSession(**options)

    @staticmethod
    def _base_url(conn: Any) -> str:
        host = (conn.host or "").strip().rstrip("/")
        if not host:
            return DEFAULT_BASE_URL
        if "://" in host:
            return str(host)
        scheme = conn.schema if conn.schema in _SCHEMES else "https"
        port = f":{conn.port}" if conn.port else ""
        return f"{scheme}://{host}{port}"

    def test_connection(self) -> tuple[bool, str]:
        """Check the connection from Airflow's UI: build a session and list one user."""
        import asyncio

        async def probe() -> None:
            async with self.session() as leaf:
                async for _ in leaf.users(size=1):
                    break

        try:
            asyncio.run(probe())
        except Exception as exc:  # Airflow shows the message in its UI
            return False, f"{type(exc).__name__}: {exc}"
        return True, "connected to Leaf"
