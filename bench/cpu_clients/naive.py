"""The peer: what a straightforward typed SDK over aiohttp would cost.

attrs models, one cattrs converter (camelCase renames, ISO-8601 datetimes,
an enum), a thin transport and one resource class per provider. Nothing is
tuned and nothing is guarded: no retries, no pacing, no size cap, no
redaction. leaf_creds must cost no more than this per request.
"""

from __future__ import annotations

import contextlib
import enum
import json
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any, Generic, TypeVar
from urllib.parse import quote

import aiohttp
import attrs
import cattrs
import harness
from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn, override
from server import BASE, TOKEN
from workloads import Call, Op

# -- models ---------------------------------------------------------------


class ClientEnvironment(enum.Enum):
    STAGE = "STAGE"
    PRODUCTION = "PRODUCTION"


@attrs.frozen
class SenteraCredentials:
    id: str
    status: str
    created_time: datetime
    username: str
    auth_token: str
    organization_id: str
    organization_name: str


@attrs.frozen
class CnhiCredentials:
    id: str
    status: str
    created_time: datetime
    client_id: str
    client_secret: str
    subscription_key: str
    refresh_token: str
    client_environment: ClientEnvironment


@attrs.frozen
class CredentialsEvent:
    id: str
    body: str
    headers: str
    status_code: int
    created_date: datetime


@attrs.frozen
class SenteraCreate:
    username: str
    password: str
    organization_name: str


@attrs.frozen
class CnhiCreate:
    client_id: str
    client_secret: str
    subscription_key: str
    refresh_token: str
    client_environment: ClientEnvironment


MODELS = (SenteraCredentials, CnhiCredentials, CredentialsEvent, SenteraCreate, CnhiCreate)


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def make_converter() -> cattrs.Converter:
    """Return a converter with the camelCase renames and datetime hooks."""
    converter = cattrs.Converter()
    converter.register_structure_hook(datetime, lambda value, _: datetime.fromisoformat(value))
    converter.register_unstructure_hook(datetime, datetime.isoformat)
    for cls in MODELS:
        renames = {
            field.name: override(rename=_camel(field.name))
            for field in attrs.fields(cls)
            if _camel(field.name) != field.name
        }
        converter.register_structure_hook(cls, make_dict_structure_fn(cls, converter, **renames))
        converter.register_unstructure_hook(
            cls, make_dict_unstructure_fn(cls, converter, **renames)
        )
    return converter


# -- transport and resources ----------------------------------------------


class ApiError(Exception):
    def __init__(self, status: int, body: bytes) -> None:
        super().__init__(f"HTTP {status}: {body[:200]!r}")
        self.status = status


class Transport:
    def __init__(self, http: aiohttp.ClientSession, base_url: str) -> None:
        self._http = http
        self._base = base_url.rstrip("/") + BASE
        self.converter = make_converter()

    async def request(self, method: str, path: str, body: Any = None) -> Any:
        data = headers = None
        if body is not None:
            data = json.dumps(body).encode()
            headers = {"Content-Type": "application/json"}
        async with self._http.request(
            method, self._base + path, data=data, headers=headers
        ) as response:
            raw = await response.read()
            if response.status >= 400:
                raise ApiError(response.status, raw)
            if response.status == 204 or not raw:
                return None
            return json.loads(raw)


R = TypeVar("R")
C = TypeVar("C")


class Credentials(Generic[R, C]):
    """One provider's four operations."""

    def __init__(self, transport: Transport, slug: str, record: type[R], create: type[C]) -> None:
        self._transport = transport
        self._segment = f"{slug}-credentials"
        self._record = record
        self._create = create

    def _path(self, user_id: str) -> str:
        return f"/users/{quote(user_id, safe='')}/{self._segment}"

    async def get(self, user_id: str) -> R:
        data = await self._transport.request("GET", self._path(user_id))
        return self._transport.converter.structure(data, self._record)

    async def create(self, user_id: str, credentials: C) -> R:
        body = self._transport.converter.unstructure(credentials, self._create)
        data = await self._transport.request("POST", self._path(user_id), body)
        return self._transport.converter.structure(data, self._record)

    async def delete(self, user_id: str) -> None:
        await self._transport.request("DELETE", self._path(user_id))

    async def events(self, user_id: str) -> list[CredentialsEvent]:
        data = await self._transport.request("GET", self._path(user_id) + "/events")
        return self._transport.converter.structure(data, list[CredentialsEvent])


class NaiveClient:
    def __init__(self, http: aiohttp.ClientSession, base_url: str) -> None:
        transport = Transport(http, base_url)
        self.sentera = Credentials(transport, "sentera", SenteraCredentials, SenteraCreate)
        self.cnhi = Credentials(transport, "cnhi", CnhiCredentials, CnhiCreate)


# -- the benchmark's call(op) ---------------------------------------------

# The same field values as workloads.RAW_BODIES.
CREATES: dict[str, Any] = {
    "sentera": SenteraCreate(
        username="grower@example.com",
        password="sentera-password",
        organization_name="Acme Farms",
    ),
    "cnhi": CnhiCreate(
        client_id="cnhi-client-id",
        client_secret="cnhi-client-secret",
        subscription_key="cnhi-subscription-key",
        refresh_token="cnhi-refresh-token",
        client_environment=ClientEnvironment.STAGE,
    ),
}


@contextlib.asynccontextmanager
async def open_client(url: str) -> AsyncIterator[Call]:
    async with aiohttp.ClientSession(
        headers={"Authorization": "Bearer " + TOKEN, "Accept": "application/json"}
    ) as http:
        client = NaiveClient(http, url)
        providers: dict[str, Credentials[Any, Any]] = {
            "sentera": client.sentera,
            "cnhi": client.cnhi,
        }

        async def call(op: Op) -> object:
            kind, provider, user_id = op
            credentials = providers[provider]
            if kind == "get":
                return await credentials.get(user_id)
            if kind == "create":
                return await credentials.create(user_id, CREATES[provider])
            if kind == "delete":
                return await credentials.delete(user_id)
            return await credentials.events(user_id)

        yield call


if __name__ == "__main__":
    harness.main("naive", open_client)
