"""The one-call record decoder: same answers and errors as cattrs' own function.

``make_converter`` builds, per attrs class, a function that reads every field
inline and hands anything unusual to cattrs' generated function. These tests
hold the two side by side: the reference converter below is the same
converter with cattrs' ``make_dict_structure_fn`` put back.
"""

from __future__ import annotations

import enum
import re
from typing import Any, Generic, TypeVar

import attrs
import cattrs
import pytest
from cattrs.gen import make_dict_structure_fn, override

import leaf_creds as lc
from leaf_creds._fields import wire_name
from tests.conftest import UM, LeafMock
from tests.helpers import SENTERA_URL, failed_sentera_get


def reference_converter() -> cattrs.Converter:
    """Our converter, with cattrs' generated function for every attrs class."""
    converter = lc.make_converter()

    def plain(cls: type[Any]) -> Any:
        renames: dict[str, Any] = {
            a.name: override(rename=wire_name(a)) for a in attrs.fields(cls)
        }
        return make_dict_structure_fn(cls, converter, _cattrs_forbid_extra_keys=False, **renames)

    converter.register_structure_hook_factory(attrs.has, plain)
    return converter


class Named(str):
    """A str subclass: cattrs' path accepts it, the inline check hands it over."""


@attrs.frozen(kw_only=True)
class PluginRecord(lc.CredentialRecord):
    """A plugin author's record: an int, a factory default, a validated field."""

    code: str | None = attrs.field(default=None, validator=attrs.validators.optional(
        attrs.validators.matches_re(r"[A-Z]+")
    ))
    retries: int = 3
    tags: list[str] = attrs.Factory(list)


@attrs.frozen(kw_only=True)
class PostInitRecord(lc.CredentialRecord):
    """A record whose __attrs_post_init__ must still run."""

    label: str | None = None
    seen: list[str] = attrs.field(factory=list, init=False)

    def __attrs_post_init__(self) -> None:
        self.seen.append("post-init")


@attrs.frozen(kw_only=True)
class DerivedDefaultRecord(lc.CredentialRecord):
    """A default computed from the instance: left to cattrs and __init__."""

    label: str = attrs.Factory(lambda self: f"label-of-{self.id}", takes_self=True)


@attrs.define(kw_only=True)
class MutableRecord:
    """A mutable attrs class: set through its slots all the same."""

    id: str
    count: int | None = None


@attrs.frozen(kw_only=True, cache_hash=True)
class HashCachedRecord(lc.CredentialRecord):
    """A class with a slot of attrs' own: built through its __init__."""

    label: str | None = None


@attrs.frozen(kw_only=True)
class Node:
    """A class that contains itself, and one pair that contain each other."""

    name: str
    child: Node | None = None
    other: Other | None = None


@attrs.frozen(kw_only=True)
class Other:
    back: Node | None = None


class Level(enum.IntEnum):
    LOW = 1
    HIGH = 2


@attrs.frozen(kw_only=True)
class FlagsRecord(lc.CredentialRecord):
    """int subclasses keep cattrs' handling: bool stays bool, IntEnum its member."""

    enabled: bool = False
    maybe: bool | None = None
    level: Level | None = None
    count: int | None = None


V = TypeVar("V")


@attrs.frozen(kw_only=True)
class GenericRecord(lc.CredentialRecord, Generic[V]):
    """A plugin's generic base: left to cattrs, which knows the parameters."""

    extra: V | None = None


@attrs.frozen(kw_only=True)
class IntExtraRecord(GenericRecord[int]):
    pass


@attrs.define(kw_only=True)
class ShoutingRecord:
    """A __setattr__ of its own, which attrs' __init__ goes through."""

    name: str

    def __setattr__(self, key: str, value: Any) -> None:
        super().__setattr__(key, value.upper() if isinstance(value, str) else value)


@attrs.frozen(kw_only=True)
class CountedRecord:
    """A __new__ of its own, which must run."""

    made = 0
    name: str

    def __new__(cls, *args: Any, **kwargs: Any) -> CountedRecord:
        CountedRecord.made += 1
        return super().__new__(cls)


BASE_RECORD = {"id": "c-1", "status": "OK", "createdTime": "2024-05-06T07:08:09.123456Z"}

CASES: list[tuple[type[Any], Any]] = [
    (lc.SenteraRecord, {**BASE_RECORD, "username": "u", "authToken": "t", "organizationId": "o"}),
    (lc.SenteraRecord, {"id": "c-1", "status": "OK"}),
    (lc.SenteraRecord, {**BASE_RECORD, "username": None, "organizationName": None}),
    (lc.SenteraRecord, {**BASE_RECORD, "status": "SOMETHING_NEW"}),
    (lc.SenteraRecord, {**BASE_RECORD, "username": 42}),
    (lc.SenteraRecord, {**BASE_RECORD, "username": Named("n")}),
    (lc.SenteraRecord, {**BASE_RECORD, "id": Named("c-2")}),
    (lc.SenteraRecord, {**BASE_RECORD, "createdTime": "2024-05-06T07:08:09"}),
    (lc.SenteraRecord, {**BASE_RECORD, "createdTime": "2024-05-06T09:08:09+02:00"}),
    (lc.SenteraRecord, {**BASE_RECORD, "createdTime": "yesterday"}),
    (lc.SenteraRecord, {**BASE_RECORD, "createdTime": 1700000000}),
    (lc.SenteraRecord, {"status": "OK"}),
    (lc.SenteraRecord, {"id": "c-1"}),
    (lc.SenteraRecord, {**BASE_RECORD, "status": ["OK"]}),
    (lc.SenteraRecord, {**BASE_RECORD, "unknownKey": {"nested": True}}),
    (lc.CnhiRecord, {**BASE_RECORD, "clientId": "i", "clientEnvironment": "STAGE"}),
    (lc.CnhiRecord, {**BASE_RECORD, "clientEnvironment": "PRODUCTION"}),
    (lc.CnhiRecord, {**BASE_RECORD, "clientEnvironment": "DEV"}),
    (lc.CnhiRecord, {**BASE_RECORD, "clientEnvironment": 1}),
    (lc.CnhiRecord, {**BASE_RECORD, "clientEnvironment": None}),
    (lc.CredentialEvent, {"id": "e", "statusCode": 200, "createdDate": "2024-05-01T10:00:00Z"}),
    (lc.CredentialEvent, {"id": "e", "statusCode": "201"}),
    (lc.CredentialEvent, {"id": "e", "statusCode": True}),
    (lc.CredentialEvent, {"id": "e", "statusCode": "many"}),
    (lc.CredentialEvent, {"id": "e", "body": None, "headers": "h"}),
    (PluginRecord, {**BASE_RECORD, "code": "ABC", "retries": 5, "tags": ["a"]}),
    (PluginRecord, {**BASE_RECORD}),
    (PluginRecord, {**BASE_RECORD, "code": "abc"}),
    (PluginRecord, {**BASE_RECORD, "retries": "7"}),
    (PluginRecord, {**BASE_RECORD, "tags": [1, 2]}),
    (PostInitRecord, {**BASE_RECORD, "label": "x"}),
    (DerivedDefaultRecord, {**BASE_RECORD}),
    (DerivedDefaultRecord, {**BASE_RECORD, "label": "given"}),
    (HashCachedRecord, {**BASE_RECORD, "label": "x"}),
    (FlagsRecord, {**BASE_RECORD, "enabled": True, "maybe": False, "level": 2, "count": 3}),
    (FlagsRecord, {**BASE_RECORD, "enabled": 0, "level": 9}),
    (IntExtraRecord, {**BASE_RECORD, "extra": "5"}),
    (GenericRecord[int], {**BASE_RECORD, "extra": 5}),
    (GenericRecord[str], {**BASE_RECORD, "extra": 5}),
    (ShoutingRecord, {"name": "quiet"}),
    (Node, {"name": "a", "child": {"name": "b", "child": {"name": "c"}}}),
    (Node, {"name": "a", "other": {"back": {"name": "b", "other": {}}}}),
    (Node, {"name": "a", "child": {"name": 1}}),
    (MutableRecord, {"id": "m", "count": 2}),
    (MutableRecord, {"id": "m", "count": 2.0}),
]


def outcome(converter: cattrs.Converter, cls: type[Any], data: Any) -> tuple[str, Any]:
    """The value, with the type of every field, or the error's type and lines."""
    try:
        value = converter.structure(data, cls)
    except Exception as exc:
        lines = cattrs.transform_error(exc) if isinstance(exc, cattrs.BaseValidationError) else []
        return "error", (type(exc), lines)
    types = {a.name: type(getattr(value, a.name)) for a in attrs.fields(cls)}
    return "value", (value, types)


@pytest.mark.parametrize(("cls", "data"), CASES)
def test_same_result_or_error_as_cattrs(cls: type[Any], data: Any) -> None:
    """Every case gives what cattrs' generated function gives, error lines included."""
    assert outcome(reference_converter(), cls, data) == outcome(lc.make_converter(), cls, data)


def test_records_made_inline_are_frozen_hashable_and_equal() -> None:
    """A record built without its __init__ is the record __init__ would build."""
    data = {**BASE_RECORD, "clientId": "i", "clientSecret": "s", "clientEnvironment": "STAGE"}

    record = lc.make_converter().structure(data, lc.CnhiRecord)

    expected = reference_converter().structure(data, lc.CnhiRecord)
    assert expected == record
    assert hash(expected) == hash(record)
    assert repr(expected) == repr(record)
    assert "'s'" not in repr(record)
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        record.client_id = "other"  # type: ignore[misc]


def test_post_init_and_validators_still_run() -> None:
    """Classes whose __init__ does more than store values go through __init__."""
    converter = lc.make_converter()

    record = converter.structure({**BASE_RECORD, "label": "x"}, PostInitRecord)

    assert ["post-init"] == record.seen
    with pytest.raises(cattrs.ClassValidationError):
        converter.structure({**BASE_RECORD, "code": "lower"}, PluginRecord)


async def test_session_reports_a_validator_failure_as_decode_error(http: LeafMock) -> None:
    """Through a session, a value the record class rejects is a DecodeError."""
    resource = lc.CredentialResource("plugin-provider", dict_schema(), PluginRecord)
    registry = lc.Registry()
    registry.register(resource)
    url = UM + "/users/u1/plugin-provider-credentials"
    http.get(url, payload={**BASE_RECORD, "code": "lower"})
    http.get(url, payload={**BASE_RECORD, "code": "UPPER", "retries": "2"})

    async with lc.LeafSession(token="bearer-token-value", registry=registry) as leaf:
        with pytest.raises(lc.DecodeError, match="does not fit PluginRecord"):
            await leaf.get("plugin-provider", "u1")
        record = await leaf.get(resource, "u1")

    assert ("UPPER", 2, []) == (record.code, record.retries, record.tags)


async def test_session_decodes_events_with_the_exact_error_on_a_bad_one(http: LeafMock) -> None:
    """An events list is decoded item by item; one bad item names its index."""
    url = UM + "/users/u1/sentera-credentials/events"
    good = {"id": "e1", "statusCode": 200, "createdDate": "2024-05-01T10:00:00.000000Z"}
    http.get(url, payload=[good, {"id": "e2", "statusCode": 401}])
    http.get(url, payload=[good, {"id": "e3", "createdDate": "not a date"}])

    async with lc.LeafSession(token="bearer-token-value") as leaf:
        events = await leaf.events(lc.SENTERA, "u1")
        with pytest.raises(lc.DecodeError, match=re.escape("@ $[1].created_date")):
            await leaf.events(lc.SENTERA, "u1")

    assert [("e1", 200), ("e2", 401)] == [(e.id, e.status_code) for e in events]
    assert 2024 == events[0].created_date.year  # type: ignore[union-attr]


def dict_schema() -> type[Any]:
    @attrs.frozen(kw_only=True)
    class PluginCredentials:
        token: str

    return PluginCredentials


@pytest.mark.parametrize(
    "body",
    [
        b'{"id": "c-1", "status": "OK", "username": "gr\xc3\xbcn"}',
        b'\xef\xbb\xbf{"id": "c-1", "status": "OK", "username": "gr\xc3\xbcn"}',
        '{"id": "c-1", "status": "OK", "username": "grün"}'.encode("utf-16"),
        b' \n{"id": "c-1", "status": "OK", "username": "gr\xc3\xbcn"}\n',
    ],
    ids=["utf-8", "utf-8 with BOM", "utf-16", "whitespace around"],
)
async def test_bodies_in_any_json_encoding_decode(http: LeafMock, body: bytes) -> None:
    """UTF-8 is read directly; a BOM or another JSON encoding takes the full path."""
    http.get(UM + "/users/u1/sentera-credentials", body=body, content_type="application/json")

    async with lc.LeafSession(token="bearer-token-value") as leaf:
        record = await leaf.get(lc.SENTERA, "u1")

    assert ("c-1", "grün") == (record.id, record.username)


@pytest.mark.parametrize("body", [b"", b"  \n", b"\xff\xfe{", b"not json"])
async def test_empty_or_broken_bodies_are_decode_errors(http: LeafMock, body: bytes) -> None:
    """A 2xx body that is empty or not JSON in any encoding is a DecodeError."""
    http.get(UM + "/users/u1/sentera-credentials", body=body, content_type="application/json")

    async with lc.LeafSession(token="bearer-token-value") as leaf:
        with pytest.raises(lc.DecodeError, match=r"expected a JSON object|is not JSON"):
            await leaf.get(lc.SENTERA, "u1")


def test_a_class_with_its_own_new_still_runs_it() -> None:
    """A __new__ of the class's own runs once per record, as with cattrs."""
    before = CountedRecord.made

    lc.make_converter().structure({"name": "x"}, CountedRecord)

    assert before + 1 == CountedRecord.made


def test_a_hook_for_an_optional_type_is_honoured() -> None:
    """A hook registered for `str | None` itself wins over reading str inline."""

    @attrs.frozen(kw_only=True)
    class Blank:
        note: str | None = None

    converters = [reference_converter(), lc.make_converter()]
    for converter in converters:
        converter.register_structure_hook_func(
            lambda type_: type_ == (str | None), lambda value, _: value or None
        )

    assert [Blank(note=None)] * 2 == [c.structure({"note": ""}, Blank) for c in converters]


async def test_a_hook_for_the_event_list_is_honoured(http: LeafMock) -> None:
    """A session's converter with its own list[CredentialEvent] hook is used for events."""
    converter = lc.make_converter()
    converter.register_structure_hook_func(
        lambda type_: type_ == list[lc.CredentialEvent], lambda value, _: ["mine"] * len(value)
    )
    http.get(UM + "/users/u1/sentera-credentials/events", payload=[{"id": "e1"}])

    async with lc.LeafSession(token="bearer-token-value", converter=converter) as leaf:
        assert ["mine"] == await leaf.events(lc.SENTERA, "u1")  # type: ignore[comparison-overlap]


def test_int_subclasses_keep_their_types() -> None:
    """bool stays bool and an IntEnum field gets its member; plain ints are ints."""
    data = {**BASE_RECORD, "enabled": True, "maybe": False, "level": 2, "count": "3"}

    record = lc.make_converter().structure(data, FlagsRecord)

    assert (True, False, Level.HIGH, 3) == (
        record.enabled,
        record.maybe,
        record.level,
        record.count,
    )
    assert [bool, bool, Level, int] == [
        type(v) for v in (record.enabled, record.maybe, record.level, record.count)
    ]


# What mutation testing found unpinned in reading answers (_http.py): each test
# kills mutants that survived the module's other tests, named in its comment.
class TestUnreadableSuccess:
    async def test_nested_too_deeply(self, http: LeafMock) -> None:
        """A 2xx nested past the recursion limit says so, with its size, method, URL and status."""
        # Kills any argument of its _not_json(...) call changed, dropped or reworded.
        deep = b"[" * 20_000 + b"]" * 20_000
        http.get(SENTERA_URL, body=deep)

        error = await failed_sentera_get(http)

        assert (
            f"200 from GET {SENTERA_URL} is JSON nested too deeply to parse (40000 bytes)"
        ) == str(error)
        assert ("GET", SENTERA_URL, 200) == (error.method, error.url, error.status)

    async def test_not_json(self, http: LeafMock) -> None:
        """A 2xx that is not JSON says so, with its size, method, URL and status."""
        # Kills the default `what` of _not_json reworded and method=None in either call.
        http.get(SENTERA_URL, body=b"<html>oops</html>")

        error = await failed_sentera_get(http)

        assert f"200 from GET {SENTERA_URL} is not JSON (17 bytes)" == str(error)
        assert ("GET", SENTERA_URL, 200) == (error.method, error.url, error.status)

    @pytest.mark.parametrize("body", [b"", b" \r\n\t"])
    async def test_empty_is_no_value_not_broken_json(self, http: LeafMock, body: bytes) -> None:
        """An empty or blank 2xx is read as no value (not an object), not as broken JSON."""
        # Kills `not body or body.isspace()` turned into `and`: b"" would then be
        # handed to json.loads and reported as "is not JSON".
        http.get(SENTERA_URL, body=body)

        error = await failed_sentera_get(http)

        assert f"200 from GET {SENTERA_URL}: expected a JSON object" == str(error)

    async def test_too_large(self, http: LeafMock) -> None:
        """A 2xx past max_response_bytes names the limit and keeps method, URL, status, limit."""
        # Kills the message replaced by None and each keyword argument set to None or dropped.
        http.get(SENTERA_URL, body=b'["' + b"a" * 20_000 + b'"]')

        error = await failed_sentera_get(http, lc.ResponseTooLargeError, max_response_bytes=10_000)

        assert (
            f"200 from GET {SENTERA_URL} is longer than max_response_bytes "
            "(10000 bytes); it was not read"
        ) == str(error)
        assert ("GET", SENTERA_URL, 200, 10_000) == (
            error.method,
            error.url,
            error.status,
            error.limit,
        )
