"""`leaf-creds apply --resume` with replaces: announced, checked with a GET, never repeated.

A credential rotation is all replaces (delete, then create); a run killed
after a replace landed but before its outcome was written must not delete
and create it again on resume. Runs `main(argv)` in-process, as
tests/test_cli_resume.py does.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from leaf_creds.testing import FakeLeaf
from tests.cli_helpers import SECRET, Cli, cnhi, outcomes, read, sentera, write_plan, write_results


def rotations(fake: FakeLeaf, count: int, *, old: bool = True) -> list[dict[str, Any]]:
    """Give ``count`` users an old CNHI credential; return the plan lines replacing each."""
    entries = []
    for i in range(count):
        user = fake.add_user(name=f"grower {i}").id
        if old:
            fake.add_credential(user, "cnhi", {**cnhi(i), "clientSecret": f"old-{i}"})
        entries.append({"op": "replace", "provider": "cnhi", "leafUserId": user,
                        "credentials": cnhi(i)})  # fmt: skip
    return entries


def started(entry: dict[str, Any], line: int) -> dict[str, Any]:
    return {"line": line, "op": "replace", "provider": entry["provider"],
            "leafUserId": entry["leafUserId"], "started": True}  # fmt: skip


def requests(fake: FakeLeaf) -> tuple[int, int, int]:
    """Return how many GETs, DELETEs and POSTs reached the fake."""
    return fake.count("GET"), fake.count("DELETE"), fake.count("POST")


def resume_argv(plan: Path, results: Path) -> tuple[str, ...]:
    return ("apply", str(plan), "--out", str(results), "--resume", str(results))


class TestAnnounced:
    async def test_each_replace_is_announced_before_it_is_sent(
        self, cli: Cli, fake: FakeLeaf, tmp_path: Path
    ) -> None:
        """Under --resume, each replace gets a "started" line before its outcome; no GET."""
        entries = rotations(fake, 3)
        plan = write_plan(tmp_path / "plan.jsonl", entries)
        results = tmp_path / "results.jsonl"

        result = await cli(*resume_argv(plan, results))

        assert 0 == result.code, result.err
        assert (0, 3, 3) == requests(fake)
        written = read(results)
        for number, entry in enumerate(entries, 1):
            mine = [line for line in written if line["line"] == number]
            assert [started(entry, number)] == mine[:1]
            assert [True] == [line["ok"] for line in mine[1:]]


class TestInFlight:
    async def test_a_replace_that_landed_is_recorded_not_repeated(
        self, cli: Cli, fake: FakeLeaf, tmp_path: Path
    ) -> None:
        """A replace started with no outcome whose new credential is stored is ok, not resent."""
        entries = rotations(fake, 1, old=False) + rotations(fake, 1)
        fake.add_credential(entries[0]["leafUserId"], "cnhi", entries[0]["credentials"])
        plan = write_plan(tmp_path / "plan.jsonl", entries)
        results = write_results(tmp_path / "results.jsonl", [started(entries[0], 1)])

        resumed = await cli(*resume_argv(plan, results))

        assert 0 == resumed.code, resumed.err
        assert (1, 1, 1) == requests(fake)  # the check of line 1; line 2's replace
        line = outcomes(results)[1]
        assert ("replace", True) == (line["op"], line["ok"])
        assert "***" == line["result"]["clientSecret"]
        assert "1 replace(s) of the interrupted run had been applied" in resumed.err
        assert [] == cli.leaked()

    async def test_a_replace_that_did_not_land_runs_again(
        self, cli: Cli, fake: FakeLeaf, tmp_path: Path
    ) -> None:
        """A started replace that finds the old credential deletes it and creates the new one."""
        entries = rotations(fake, 1)
        plan = write_plan(tmp_path / "plan.jsonl", entries)
        results = write_results(tmp_path / "results.jsonl", [started(entries[0], 1)])

        resumed = await cli(*resume_argv(plan, results))

        assert 0 == resumed.code, resumed.err
        assert (1, 1, 1) == requests(fake)
        stored = fake.credential(entries[0]["leafUserId"], "cnhi")
        assert stored is not None
        assert cnhi(0)["clientSecret"] == stored["clientSecret"]
        assert "had been applied" not in resumed.err

    async def test_a_replace_cut_between_delete_and_create_runs_again(
        self, cli: Cli, fake: FakeLeaf, tmp_path: Path
    ) -> None:
        """A started replace whose delete landed but not its create (a 404) is completed."""
        entries = rotations(fake, 1, old=False)
        plan = write_plan(tmp_path / "plan.jsonl", entries)
        results = write_results(tmp_path / "results.jsonl", [started(entries[0], 1)])

        resumed = await cli(*resume_argv(plan, results))

        assert 0 == resumed.code, resumed.err
        assert (1, 1, 1) == requests(fake)
        assert True is outcomes(results)[1]["ok"]
        assert fake.credential(entries[0]["leafUserId"], "cnhi") is not None

    async def test_a_value_the_get_does_not_show_is_not_taken_as_rotated(
        self, cli: Cli, fake: FakeLeaf, tmp_path: Path
    ) -> None:
        """A Sentera password rotation in flight runs again: Leaf's GET shows no password."""
        user = fake.add_user(name="grower").id
        fake.add_credential(user, "sentera", {**sentera(0), "password": "old-password"})
        entry = {"op": "replace", "provider": "sentera", "leafUserId": user,
                 "credentials": sentera(0)}  # fmt: skip
        plan = write_plan(tmp_path / "plan.jsonl", [entry])
        results = write_results(tmp_path / "results.jsonl", [started(entry, 1)])

        resumed = await cli(*resume_argv(plan, results))

        assert 0 == resumed.code, resumed.err
        assert (1, 1, 1) == requests(fake)  # checked, then rotated all the same
        assert True is outcomes(results)[1]["ok"]
        assert "had been applied" not in resumed.err

    async def test_outcomes_cut_from_a_finished_rotation_send_nothing(
        self, cli: Cli, fake: FakeLeaf, tmp_path: Path
    ) -> None:
        """A rotation whose last two outcomes were lost resumes with two GETs, no DELETE or POST."""
        entries = rotations(fake, 6)
        plan = write_plan(tmp_path / "plan.jsonl", entries)
        results = tmp_path / "results.jsonl"
        first = await cli(*resume_argv(plan, results))
        kept = results.read_text().splitlines(keepends=True)
        cut = [i for i, raw in enumerate(kept) if '"ok"' in raw][-2:]
        results.write_text("".join(raw for i, raw in enumerate(kept) if i not in cut))
        before = requests(fake)

        resumed = await cli(*resume_argv(plan, results))

        assert (0, 0) == (first.code, resumed.code), resumed.err
        assert (before[0] + 2, before[1], before[2]) == requests(fake)
        assert dict.fromkeys(range(1, 7), True) == {
            n: line["ok"] for n, line in outcomes(results).items()
        }


class TestFailures:
    async def test_a_lost_create_answer_says_maybe_applied_and_is_checked(
        self, cli: Cli, fake: FakeLeaf, tmp_path: Path
    ) -> None:
        """A replace whose create's outcome is unknown says maybeApplied; resume finds it."""
        entries = rotations(fake, 1)
        plan = write_plan(tmp_path / "plan.jsonl", entries)
        results = tmp_path / "results.jsonl"
        fake.faults.add(method="POST", drop="after_body")
        fake.faults.add(method="GET", status=400)  # the SDK's reconcile GET cannot tell

        first = await cli(*resume_argv(plan, results))
        error = outcomes(results)[1]["error"]
        fake.faults.clear()
        posts = fake.count("POST")
        resumed = await cli(*resume_argv(plan, results))

        assert 1 == first.code
        assert ("OutcomeUnknownError", True) == (error["type"], error["maybeApplied"])
        assert 0 == resumed.code, resumed.err
        assert True is outcomes(results)[1]["ok"]
        assert (posts, 1) == (fake.count("POST"), fake.count("DELETE"))  # none sent again

    async def test_a_failed_delete_says_not_applied_and_runs_again(
        self, cli: Cli, fake: FakeLeaf, tmp_path: Path
    ) -> None:
        """A replace that failed in its delete never sent its create: maybeApplied false, no GET."""
        entries = rotations(fake, 1)
        plan = write_plan(tmp_path / "plan.jsonl", entries)
        results = tmp_path / "results.jsonl"
        fake.faults.add(method="DELETE", status=500, probability=1.0)

        first = await cli(*resume_argv(plan, results))
        error = outcomes(results)[1]["error"]
        fake.faults.clear()
        resumed = await cli(*resume_argv(plan, results))

        assert 1 == first.code
        assert ("ServerError", False) == (error["type"], error["maybeApplied"])
        assert 0 == resumed.code, resumed.err
        assert (0, 1) == (fake.count("GET"), fake.count("POST"))

    @pytest.mark.parametrize(
        "error",
        [
            {"type": "OutcomeUnknownError", "status": None, "message": "m"},
            {"type": "ServerError", "status": 502, "message": "m", "maybeApplied": True},
        ],
        ids=["older-file", "flagged"],
    )
    async def test_recorded_failures_that_may_have_landed_are_checked(
        self, cli: Cli, fake: FakeLeaf, tmp_path: Path, error: dict[str, Any]
    ) -> None:
        """A replace whose recorded failure says it may have landed is checked, not repeated."""
        entries = rotations(fake, 1, old=False)
        fake.add_credential(entries[0]["leafUserId"], "cnhi", entries[0]["credentials"])
        plan = write_plan(tmp_path / "plan.jsonl", entries)
        line = {**started(entries[0], 1), "ok": False, "attempts": 1, "error": error}
        del line["started"]
        results = write_results(tmp_path / "results.jsonl", [line])

        resumed = await cli(*resume_argv(plan, results))

        assert 0 == resumed.code, resumed.err
        assert (1, 0, 0) == requests(fake)
        assert True is outcomes(results)[1]["ok"]
        assert SECRET not in results.read_text()
