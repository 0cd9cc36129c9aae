"""`leaf-creds apply --resume`: which creates it checks with a GET, and what it records.

Most tests run `main(argv)` in-process (as tests/test_cli_inprocess.py does);
the one that kills a run mid-way runs the installed command.
"""

from __future__ import annotations

import asyncio
import os
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from leaf_creds.testing import FakeLeaf
from tests.cli_helpers import (
    LEAF_CREDS,
    SECRET,
    Cli,
    creates,
    outcomes,
    read,
    write_plan,
    write_results,
)

CREDENTIALS = "/sentera-credentials"


def head(entry: dict[str, Any], line: int) -> dict[str, Any]:
    return {"line": line, "op": "create", "provider": entry["provider"],
            "leafUserId": entry["leafUserId"]}  # fmt: skip


def started(entry: dict[str, Any], line: int) -> dict[str, Any]:
    return {**head(entry, line), "started": True}


def failed(entry: dict[str, Any], line: int, error: dict[str, Any]) -> dict[str, Any]:
    return {**head(entry, line), "ok": False, "attempts": 1, "error": error}


def ok(entry: dict[str, Any], line: int) -> dict[str, Any]:
    return {**head(entry, line), "ok": True, "attempts": 1, "result": {}}


class TestMaybeAppliedFailures:
    async def test_outcome_unknown_is_checked_not_resent(
        self, cli: Cli, fake: FakeLeaf, tmp_path: Path
    ) -> None:
        """A create that ended OutcomeUnknownError but landed is found by resume, not 409'd."""
        entries = creates(fake, 2)
        plan = write_plan(tmp_path / "plan.jsonl", entries)
        results = tmp_path / "results.jsonl"
        fake.faults.add(method="POST", path="/users/" + entries[0]["leafUserId"] + "/*",
                        drop="after_body")  # fmt: skip
        fake.faults.add(method="GET", status=400)  # the reconcile GET cannot tell

        first = await cli("apply", str(plan), "--out", str(results), "--resume", str(results))
        error = outcomes(results)[1]["error"]
        fake.faults.clear()
        resumed = await cli("apply", str(plan), "--out", str(results), "--resume", str(results))

        assert 1 == first.code
        assert ("OutcomeUnknownError", True) == (error["type"], error["maybeApplied"])
        assert 0 == resumed.code, resumed.err
        assert {1: True, 2: True} == {n: e["ok"] for n, e in outcomes(results).items()}
        assert 2 == fake.count("POST", CREDENTIALS)  # line 1 was not sent again
        assert "1 create(s) of the interrupted run had been applied" in resumed.err

    async def test_unreadable_create_is_checked_not_resent(
        self, cli: Cli, fake: FakeLeaf, tmp_path: Path
    ) -> None:
        """A create answered 2xx with garbage, unrecovered, is found by resume, not resent."""
        plan = write_plan(tmp_path / "plan.jsonl", creates(fake, 1))
        results = tmp_path / "results.jsonl"
        fake.faults.add(method="POST", malformed=True)
        fake.faults.add(method="GET", status=400)  # the GET that would recover it

        first = await cli("apply", str(plan), "--out", str(results), "--resume", str(results))
        error = outcomes(results)[1]["error"]
        fake.faults.clear()
        resumed = await cli("apply", str(plan), "--out", str(results), "--resume", str(results))

        assert 1 == first.code
        assert ("UnreadableCreateError", True) == (error["type"], error["maybeApplied"])
        assert SECRET not in results.read_text()
        assert 0 == resumed.code, resumed.err
        assert True is outcomes(results)[1]["ok"]
        assert 1 == fake.count("POST", CREDENTIALS)

    @pytest.mark.parametrize(
        "error",
        [
            {"type": "OutcomeUnknownError", "status": None, "message": "m"},
            {"type": "DecodeError", "status": 201, "message": "m"},
            {"type": "TransportError", "status": None, "message": "m"},
            {"type": "RequestTimeoutError", "status": None, "message": "m"},
            {"type": "ServerError", "status": 502, "message": "m"},
            {"type": "ConflictError", "status": 409, "message": "m", "maybeApplied": True},
        ],
        ids=["unknown", "decode", "transport", "timeout", "502", "flagged"],
    )
    async def test_recorded_failures_that_may_have_landed(
        self, cli: Cli, fake: FakeLeaf, tmp_path: Path, error: dict[str, Any]
    ) -> None:
        """Lines of older results files whose failure says it may have landed are checked."""
        entries = creates(fake, 1)
        plan = write_plan(tmp_path / "plan.jsonl", entries)
        fake.add_credential(entries[0]["leafUserId"], "sentera", entries[0]["credentials"])
        results = write_results(tmp_path / "results.jsonl", [failed(entries[0], 1, error)])

        resumed = await cli("apply", str(plan), "--out", str(results), "--resume", str(results))

        assert 0 == resumed.code, resumed.err
        assert True is outcomes(results)[1]["ok"]
        assert (0, 1) == (fake.count("POST"), fake.count("GET"))

    @pytest.mark.parametrize(
        "error",
        [
            {"type": "ConflictError", "status": 409, "message": "m"},
            {"type": "ServerError", "status": 503, "message": "m"},
            {"type": "OutcomeUnknownError", "status": None, "message": "m", "maybeApplied": False},
        ],
        ids=["409", "503", "flagged-false"],
    )
    async def test_failures_that_did_not_land_are_resent(
        self, cli: Cli, fake: FakeLeaf, tmp_path: Path, error: dict[str, Any]
    ) -> None:
        """A create whose failure says it was not applied is sent again, with no GET."""
        entries = creates(fake, 1)
        plan = write_plan(tmp_path / "plan.jsonl", entries)
        results = write_results(tmp_path / "results.jsonl", [failed(entries[0], 1, error)])

        resumed = await cli("apply", str(plan), "--out", str(results), "--resume", str(results))

        assert 0 == resumed.code, resumed.err
        assert (1, 0) == (fake.count("POST"), fake.count("GET"))

    async def test_failed_create_says_whether_it_may_have_landed(
        self, cli: Cli, fake: FakeLeaf, tmp_path: Path
    ) -> None:
        """Every failed create's error carries maybeApplied; a 409 or 404 is false."""
        entries = creates(fake, 1)
        fake.add_credential(entries[0]["leafUserId"], "sentera", {**entries[0]["credentials"],
                            "username": "someone-else"})  # fmt: skip
        entries.append({**entries[0], "leafUserId": "no-such-user"})
        plan = write_plan(tmp_path / "plan.jsonl", entries)

        result = await cli("apply", str(plan))

        assert 1 == result.code
        assert [("ConflictError", False), ("NotFoundError", False)] == sorted(
            (line["error"]["type"], line["error"]["maybeApplied"]) for line in result.lines()
        )
        assert not [line for line in result.lines() if "started" in line]

    async def test_a_check_that_cannot_tell_then_409_stays_checked(
        self, cli: Cli, fake: FakeLeaf, tmp_path: Path
    ) -> None:
        """When resume's GET cannot tell and the create then gets 409, the next resume checks it."""
        entries = creates(fake, 1)
        plan = write_plan(tmp_path / "plan.jsonl", entries)
        fake.add_credential(entries[0]["leafUserId"], "sentera", entries[0]["credentials"])
        results = write_results(tmp_path / "results.jsonl", [started(entries[0], 1)])
        fake.faults.add(method="GET", status=400)

        second = await cli("apply", str(plan), "--out", str(results), "--resume", str(results))
        third = await cli("apply", str(plan), "--out", str(results), "--resume", str(results))

        assert (1, 0) == (second.code, third.code)
        assert True is outcomes(results)[1]["ok"]
        assert 1 == fake.count("POST")  # the 409 of the second run, none in the third


class TestResumeCost:
    async def test_first_run_sends_no_get(self, cli: Cli, fake: FakeLeaf, tmp_path: Path) -> None:
        """With no results file yet, --resume sends only the creates: no GET at all."""
        plan = write_plan(tmp_path / "plan.jsonl", creates(fake, 20))
        results = tmp_path / "results.jsonl"

        result = await cli("apply", str(plan), "--out", str(results), "--resume", str(results))

        assert 0 == result.code, result.err
        assert (20, 0) == (fake.count("POST"), fake.count("GET"))
        written = read(results)
        assert 20 == sum(line.get("started") is True for line in written)
        assert dict.fromkeys(range(1, 21), True) == {
            n: line["ok"] for n, line in outcomes(results).items()
        }

    async def test_empty_results_file_sends_no_get(
        self, cli: Cli, fake: FakeLeaf, tmp_path: Path
    ) -> None:
        """An empty results file is a first run too."""
        plan = write_plan(tmp_path / "plan.jsonl", creates(fake, 3))
        results = tmp_path / "results.jsonl"
        results.write_text("")

        result = await cli("apply", str(plan), "--out", str(results), "--resume", str(results))

        assert 0 == result.code, result.err
        assert (3, 0) == (fake.count("POST"), fake.count("GET"))

    async def test_only_the_creates_in_flight_are_checked(
        self, cli: Cli, fake: FakeLeaf, tmp_path: Path
    ) -> None:
        """A resume GETs only the creates started with no outcome, and finds the one that landed."""
        entries = creates(fake, 20)
        plan = write_plan(tmp_path / "plan.jsonl", entries)
        landed = entries[3]
        fake.add_credential(landed["leafUserId"], "sentera", landed["credentials"])
        # The killed run: lines 1-5 started, 1-3 done, 4 applied with its outcome lost.
        results = write_results(
            tmp_path / "results.jsonl",
            [started(entries[i], i + 1) for i in range(5)]
            + [ok(entries[i], i + 1) for i in range(3)],
        )

        resumed = await cli("apply", str(plan), "--out", str(results), "--resume", str(results))

        assert 0 == resumed.code, resumed.err
        assert 2 == fake.count("GET")  # lines 4 and 5
        assert 16 == fake.count("POST")  # lines 5 to 20
        assert dict.fromkeys(range(1, 21), True) == {
            n: line["ok"] for n, line in outcomes(results).items()
        }
        assert "1 create(s) of the interrupted run had been applied" in resumed.err

    async def test_a_restarted_line_is_checked_again(
        self, cli: Cli, fake: FakeLeaf, tmp_path: Path
    ) -> None:
        """A line with a failed outcome, started again by a later run that died, is checked."""
        entries = creates(fake, 1)
        plan = write_plan(tmp_path / "plan.jsonl", entries)
        fake.add_credential(entries[0]["leafUserId"], "sentera", entries[0]["credentials"])
        error = {"type": "ServerError", "status": 503, "message": "m", "maybeApplied": False}
        results = write_results(
            tmp_path / "results.jsonl",
            [started(entries[0], 1), failed(entries[0], 1, error), started(entries[0], 1)],
        )

        resumed = await cli("apply", str(plan), "--out", str(results), "--resume", str(results))

        assert 0 == resumed.code, resumed.err
        assert (0, 1) == (fake.count("POST"), fake.count("GET"))

    async def test_file_without_started_lines_checks_every_unfinished_create(
        self, cli: Cli, fake: FakeLeaf, tmp_path: Path
    ) -> None:
        """A results file with no "started" line: every create with no outcome is checked."""
        entries = creates(fake, 5)
        plan = write_plan(tmp_path / "plan.jsonl", entries)
        fake.add_credential(entries[2]["leafUserId"], "sentera", entries[2]["credentials"])
        results = write_results(tmp_path / "results.jsonl", [ok(entries[0], 1)])

        resumed = await cli("apply", str(plan), "--out", str(results), "--resume", str(results))

        assert 0 == resumed.code, resumed.err
        assert (3, 4) == (fake.count("POST"), fake.count("GET"))

    async def test_killed_run_resumes_with_at_most_about_concurrency_gets(
        self, cli: Cli, fake: FakeLeaf, tmp_path: Path
    ) -> None:
        """After a kill, the resume GETs no more creates than could be in flight, and ends clean."""
        concurrency = 3
        plan = write_plan(tmp_path / "plan.jsonl", creates(fake, 30))
        results = tmp_path / "results.jsonl"
        fake.faults.add(method="POST", delay=0.05, probability=1.0)
        env = {k: v for k, v in os.environ.items() if not k.startswith("LEAF_")}
        env.update(LEAF_TOKEN=fake.token, LEAF_BASE_URL=fake.url)
        proc = await asyncio.create_subprocess_exec(
            LEAF_CREDS, "apply", str(plan), "--concurrency", str(concurrency),
            "--resume", str(results),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL, env=env,
        )  # fmt: skip
        assert proc.stdout is not None
        written: list[bytes] = []
        while sum(b'"ok"' in line for line in written) < 6:
            line = await proc.stdout.readline()
            assert line, "the run ended before six outcomes"
            written.append(line)
        proc.kill()
        written.append(await proc.stdout.read())  # what it had written before it died
        await proc.wait()
        results.write_bytes(b"".join(written))
        fake.faults.clear()
        gets_before = fake.count("GET")

        resumed = await cli("apply", str(plan), "--resume", str(results), "--out", str(results))

        assert 0 == resumed.code, resumed.err
        assert 0 == gets_before
        # In flight: each worker's operation, and at most one finished outcome
        # each that the writer had not taken yet.
        assert fake.count("GET") <= 2 * concurrency
        assert dict.fromkeys(range(1, 31), True) == {
            n: line["ok"] for n, line in outcomes(results).items()
        }
        applied = Counter(r.path for r in fake.requests if r.method == "POST" and r.status == 201)
        assert {1} == set(applied.values())
        assert 30 == len(applied)


class TestWhatIsRecorded:
    async def test_lost_answers_say_maybe_applied(
        self, cli: Cli, fake: FakeLeaf, tmp_path: Path
    ) -> None:
        """A create whose every answer was lost after sending ends with maybeApplied true."""
        plan = write_plan(tmp_path / "plan.jsonl", creates(fake, 1))
        fake.faults.add(method="POST", drop="before_body", probability=1.0)

        result = await cli("apply", str(plan))

        assert 1 == result.code
        (line,) = result.lines()
        assert ("TransportError", True) == (line["error"]["type"], line["error"]["maybeApplied"])
        assert 4 == fake.count("GET")  # the SDK's own check after each lost answer

    async def test_someone_elses_credential_is_sent_for_leafs_answer(
        self, cli: Cli, fake: FakeLeaf, tmp_path: Path
    ) -> None:
        """A started create that met another credential is sent; its 409 is not maybe-applied."""
        entries = creates(fake, 1)
        plan = write_plan(tmp_path / "plan.jsonl", entries)
        other = {**entries[0]["credentials"], "username": "someone-else"}
        fake.add_credential(entries[0]["leafUserId"], "sentera", other)
        results = write_results(tmp_path / "results.jsonl", [started(entries[0], 1)])

        resumed = await cli("apply", str(plan), "--out", str(results), "--resume", str(results))

        assert 1 == resumed.code
        error = outcomes(results)[1]["error"]
        assert ("ConflictError", False) == (error["type"], error["maybeApplied"])
        assert (1, 1) == (fake.count("POST"), fake.count("GET"))
        assert "had been applied" not in resumed.err

    async def test_other_lines_are_not_checked(
        self, cli: Cli, fake: FakeLeaf, tmp_path: Path
    ) -> None:
        """Failed deletes, errors of no known form, and creates done since are not checked."""
        entries = creates(fake, 3)
        user = entries[0]["leafUserId"]
        entries.append({"op": "delete", "provider": "sentera", "leafUserId": user})
        plan = write_plan(tmp_path / "plan.jsonl", entries)
        unknown = {"type": "OutcomeUnknownError", "status": None, "message": "m"}
        delete = {**head(entries[3], 4), "op": "delete", "ok": False, "error": unknown}
        results = write_results(
            tmp_path / "results.jsonl",
            [
                started(entries[0], 1), failed(entries[0], 1, unknown), ok(entries[0], 1),
                {**failed(entries[1], 2, unknown), "error": "lost"},
                started(entries[2], 3), ok(entries[2], 3),
                delete,
            ],
        )  # fmt: skip

        resumed = await cli("apply", str(plan), "--out", str(results), "--resume", str(results))

        assert 0 == resumed.code, resumed.err
        assert (1, 0) == (fake.count("POST"), fake.count("GET"))  # line 2, then the delete
        assert 1 == fake.count("DELETE")
