"""The report: counted from the store, self-contained, secret-free; and in headless chromium."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from leaf_creds.repair import (
    CaseLink,
    CaseStore,
    Cause,
    CredentialSeen,
    PostgresStore,
    RepairPolicy,
    Source,
    SQLiteStore,
    Transition,
    TransitionKind,
    after_check,
    build_report,
    render_html,
    report_json,
)
from leaf_creds.repair._report import duration_text
from tests.cli_helpers import CHROMEDRIVER, CHROMIUM, CHROMIUM_ARGS, Cli, require_chromium
from tests.postgres_server import fresh_database

NOW = datetime.now(UTC).replace(microsecond=0)
LINK_SECRET = "SECRET-LINK-ID"


def ago(seconds: float) -> datetime:
    """Return NOW minus some seconds."""
    return NOW - timedelta(seconds=seconds)


async def seed(store: CaseStore) -> None:
    """Fill a store: 6 credentials audited, 3 cases open (one muted), 2 repaired with links."""
    await store.record_statuses(
        [
            CredentialSeen(
                user_id=f"u{i}", provider=provider, status=status, credential_id=f"cred-{i}-abcd"
            )
            for i, (provider, status) in enumerate([
                ("john-deere", "OK"), ("john-deere", "OK"), ("john-deere", "UNAUTHENTICATED"),
                ("cnhi", "MISSING_PERMISSION"), ("cnhi", "OK"), ("trimble", "MISSING"),
            ])
        ],
        now=NOW,
    )  # fmt: skip
    opened = [
        ("u2", "john-deere", Cause.UNAUTHENTICATED, 2 * 86400.0),
        ("u3", "cnhi", Cause.MISSING_PERMISSION, 1800.0),
        ("u5", "trimble", Cause.MISSING_CREDENTIAL, 10 * 86400.0),
        ("u0", "john-deere", Cause.UNAUTHENTICATED, 7200.0),
        ("u1", "john-deere", Cause.UNAUTHENTICATED, 3 * 86400.0),
    ]
    for user, provider, cause, age in opened:
        await store.record_news(
            user_id=user, provider=provider, cause=cause, source=Source.ALERT, now=ago(age),
            credential_id=f"cred-{user}-abcd",
        )  # fmt: skip
    await store.set_muted("u5", "trimble", True, now=ago(60), reason="support is on it")
    claimed = {case.user_id: case for case in await store.claim(
        owner="w", now=NOW, lease=60, limit=10
    )}  # fmt: skip
    # u2 got a link; u0 and u1 got links, used them, and were repaired.
    for user, age, used, repaired_after in (
        ("u2", 2 * 86400.0, 0, None), ("u0", 7200.0, 1, 1800.0), ("u1", 3 * 86400.0, 1, 86400.0)
    ):  # fmt: skip
        case = claimed.pop(user)
        link = CaseLink(
            id=f"{LINK_SECRET}-{user}", url=f"https://magic.example/{LINK_SECRET}-{user}",
            expires_at=NOW + timedelta(days=7), usage_count=used, max_usage=3,
        )  # fmt: skip
        step = await store.begin_delivery(case, owner="w", kind="link", link=link, now=ago(age))
        assert step is not None
        sent = Transition(
            kind=TransitionKind.LINK_SENT, case_id=case.id, user_id=user, provider=case.provider,
            at=ago(age), detail={"reminder": 0},
        )  # fmt: skip
        await store.finish_delivery(case, step, now=ago(age), error=None, transition=sent)
        fresh = await store.case(case.id)
        assert fresh is not None
        if repaired_after is None:
            await store.save(fresh, owner="w")
            continue
        done = ago(age) + timedelta(seconds=repaired_after)
        resolved, kinds = after_check(fresh, "OK", RepairPolicy(quiet_period=0), done)
        notes = [
            Transition(kind=k, case_id=case.id, user_id=user, provider=case.provider, at=done)
            for k in kinds
        ]
        assert await store.save(resolved, owner="w", transitions=notes)
    for case in claimed.values():  # the other leases end
        await store.save(case, owner="w")


@pytest.fixture(params=["sqlite", "postgres"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[CaseStore]:
    """A seeded store on SQLite or PostgreSQL."""
    made: CaseStore
    if request.param == "sqlite":
        made = SQLiteStore(tmp_path / "cases.db")
    else:
        dsn: str = request.getfixturevalue("postgres_dsn")
        made = PostgresStore(await fresh_database(dsn, f"report_{uuid.uuid4().hex[:12]}"))
    async with made as opened:
        await seed(opened)
        yield opened


class TestCounts:
    async def test_what_the_report_counts(self, store: CaseStore) -> None:
        """Credentials, open cases by age, time to repair and the funnel are counted right."""
        report = await build_report(store, now=NOW)
        assert {"OK": 2, "UNAUTHENTICATED": 1} == report.credentials["john-deere"]
        assert {"MISSING": 1} == report.credentials["trimble"]
        assert (5, 3, 2, 1) == (report.cases, report.open, report.resolved, report.muted)
        assert (0, 0, 0, 1) == report.open_by_age["MISSING_CREDENTIAL"]
        assert (1, 0, 0, 0) == report.open_by_age["MISSING_PERMISSION"]
        assert (0, 0, 1, 0) == report.open_by_age["UNAUTHENTICATED"]
        assert (2, 1800.0, 86400.0) == (report.repairs, report.repair_p50, report.repair_p90)
        assert (1, 0, 0, 1, 0) == report.repair_buckets
        assert (3, 2, 2) == (report.invited, report.link_used, report.connected)
        assert ["u5", "u2", "u3"] == [case.user_id for case in report.broken]
        assert "…abcd" == report.broken[0].credential
        assert "muted" == report.broken[0].events[0][1]

    async def test_the_json(self, store: CaseStore) -> None:
        """report_json carries the same, and no link or link id."""
        data = report_json(await build_report(store, now=NOW, limit=2))
        assert {"invited": 3, "linkUsed": 2, "connected": 2} == data["funnel"]
        assert 2 == len(data["broken"])
        assert LINK_SECRET not in json.dumps(data)

    async def test_an_empty_store(self, tmp_path: Path) -> None:
        """Nothing yet: zeros, no percentiles, and a page that says so."""
        async with SQLiteStore(tmp_path / "empty.db") as store:
            report = await build_report(store, now=NOW)
        assert (0, None, ()) == (report.cases, report.repair_p50, report.broken)
        page = render_html(report)
        assert "No audit yet." in page
        assert "Nothing is broken." in page

    def test_durations_read_well(self) -> None:
        """Seconds, minutes, hours and days."""
        assert ["—", "45 s", "12 min", "3.5 h", "2.0 d"] == [
            duration_text(value) for value in (None, 45, 720, 12600, 172800)
        ]


class TestTheCommand:
    def test_report_html_and_json(self, cli: Cli, tmp_path: Path) -> None:
        """leaf-creds report writes the page and prints the JSON; no link in either."""
        path = tmp_path / "cases.db"

        async def make() -> None:
            async with SQLiteStore(path) as store:
                await seed(store)

        asyncio.run(make())
        page = tmp_path / "report.html"
        result = cli.run("report", "--store", str(path), "--html", str(page), "--json")
        assert 0 == result.code
        assert 3 == result.json()["cases"]["open"]
        assert "3 open cases" in result.err
        assert LINK_SECRET not in page.read_text() + result.out + result.err

    def test_usage(self, cli: Cli, tmp_path: Path) -> None:
        """No output asked for, or no store: exit 2."""
        assert 2 == cli.run("report").code
        missing = cli.run("report", "--store", str(tmp_path / "none.db"), "--json")
        assert 2 == missing.code
        assert "no case store" in missing.err


def open_in_chromium(page: Path, screenshot: Path) -> dict[str, object]:
    """Open the page in headless chromium; return what it shows and what it loaded."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in CHROMIUM_ARGS:
        options.add_argument(argument)
    options.add_argument("--window-size=1280,1800")
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    try:
        driver.get(page.as_uri())
        shown = {
            "title": driver.title,
            "open": driver.find_element(By.CSS_SELECTOR, "#card-open b").text,
            "p50": driver.find_element(By.ID, "repair-p50").text,
            "providers": [
                row.get_attribute("data-provider")
                for row in driver.find_elements(By.CSS_SELECTOR, "#credentials tr[data-provider]")
            ],
            "funnel": [
                " ".join(row.text.split())
                for row in driver.find_elements(By.CSS_SELECTOR, "#funnel tr[data-step]")
            ],
            "broken": [
                row.get_attribute("data-user")
                for row in driver.find_elements(By.CSS_SELECTOR, "#broken tr[data-user]")
            ],
            "loaded": driver.execute_script(
                "return performance.getEntriesByType('resource').map(e => e.name)"
            ),
            "bar_width": driver.find_element(By.CSS_SELECTOR, "#credentials .bar").size["width"],
        }
        driver.save_screenshot(str(screenshot))
        if os.environ.get("LEAF_CREDS_KEEP_SCREENSHOT"):
            shutil.copy(screenshot, os.environ["LEAF_CREDS_KEEP_SCREENSHOT"])
        return shown
    finally:
        driver.quit()


class TestInChromium:
    async def test_the_page_in_headless_chromium(self, tmp_path: Path) -> None:
        """Chromium shows the counts, the funnel and the broken list, and loads nothing."""
        require_chromium()
        async with SQLiteStore(tmp_path / "cases.db") as store:
            await seed(store)
            report = await build_report(store, now=NOW)
        page = tmp_path / "report.html"
        page.write_text(render_html(report))
        text = page.read_text()
        assert LINK_SECRET not in text
        assert "cred-u2-abcd" not in text  # credential ids show their last 4 only
        for outside in ("http://", "https://", "src=", "<link", "<script", "@import", "url("):
            assert outside not in text
        shown = await asyncio.to_thread(open_in_chromium, page, tmp_path / "report.png")
        assert "3" == shown["open"]
        assert "30 min" == shown["p50"]
        assert ["cnhi", "john-deere", "trimble"] == shown["providers"]
        assert ["Invited 3 100%", "Link used 2 67%", "Connected 2 67%"] == shown["funnel"]
        assert ["u5", "u2", "u3"] == shown["broken"]
        assert [] == shown["loaded"]
        assert isinstance(shown["bar_width"], int)
        assert shown["bar_width"] > 100
        assert (tmp_path / "report.png").stat().st_size > 10_000
