"""What the OAuth tests share: each provider's app, and a grower answering a consent page."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urljoin

import aiohttp

import leaf_creds as lc
from leaf_creds.testing import FakeLeaf

SECRET = "app-secret-s3cr3t-value"

# Per provider: its resource, its app keys (secret SECRET), and start()'s options.
APPS: dict[str, tuple[Any, Any, dict[str, Any]]] = {
    "john-deere": (
        lc.JOHN_DEERE,
        lc.JohnDeereAppKeys(client_key="jd-app", client_secret=SECRET),
        {"environment": "PRODUCTION"},
    ),
    "climate-field-view": (
        lc.CLIMATE_FIELD_VIEW,
        lc.ClimateFieldViewAppKeys(
            api_key="cfv-api-key", client_id="cfv-app", client_secret=SECRET
        ),
        {"scopes": ["fields:read", "asPlanted:read"]},
    ),
    "cnhi": (
        lc.CNHI,
        lc.CnhiAppKeys(client_id="cnhi-app", client_secret=SECRET, subscription_key="sub-key"),
        {"environment": "STAGE"},
    ),
    "cnhi-field-ops": (
        lc.CNHI_FIELD_OPS,
        lc.CnhiFieldOpsAppKeys(client_id="fo-app", client_secret=SECRET, subscription_key="sub"),
        {"environment": "PRODUCTION"},
    ),
    "raven": (lc.RAVEN, lc.RavenAppKeys(client_id="raven-app", client_secret=SECRET), {}),
    "trimble": (
        lc.TRIMBLE,
        lc.TrimbleAppKeys(application_name="Farm", client_id="trimble-app", client_secret=SECRET),
        {},
    ),
    "lindsay": (
        lc.LINDSAY,
        lc.LindsayAppKeys(client_id="lindsay-app", client_secret=SECRET),
        {"environment": "STAGE"},
    ),
    "ag-leader": (
        lc.AG_LEADER,
        lc.AgLeaderAppKeys(public_key="agl-public", private_key=SECRET),
        {"scopes": ["read", "readwrite", "fileupload"]},
    ),
}
APP_IDS = {"john-deere": "jd-app", "climate-field-view": "cfv-app", "cnhi": "cnhi-app",
           "cnhi-field-ops": "fo-app", "raven": "raven-app", "trimble": "trimble-app",
           "lindsay": "lindsay-app", "ag-leader": "agl-public"}  # fmt: skip
REDIRECT = "https://farm.example/oauth/callback"


def register_apps(fake: FakeLeaf) -> None:
    """Register every provider's app with the fake's providers."""
    for slug, client_id in APP_IDS.items():
        fake.oauth.add_app(slug, client_id, SECRET)


async def consent(url: str, *, decision: str = "grant", share: bool = True) -> str:
    """Answer a consent page as a grower; return the URL the provider redirects to."""
    async with aiohttp.ClientSession() as http:
        async with http.get(url) as page:
            assert 200 == page.status, await page.text()
            text = await page.text()
        action = re.search(r'<form id="consent-form" method="post" action="([^"]+)"', text)
        assert action is not None
        form = {"decision": decision}
        if share and 'id="share-organizations"' in text:
            form["share"] = "yes"
        async with http.post(
            urljoin(url, action.group(1)), data=form, allow_redirects=False
        ) as answer:
            assert 302 == answer.status, await answer.text()
            return answer.headers["Location"]


CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
# Keep the browser on 127.0.0.1: no updates, sync, metrics or first-run calls home.
CHROMIUM_ARGS = (
    "--headless=new",
    "--no-sandbox",  # CI runs as root
    "--disable-dev-shm-usage",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-default-apps",
    "--disable-sync",
    "--disable-extensions",
)


def consent_in_chromium(url: str, *, share: bool = True) -> str:
    """Open a consent page in headless chromium, allow; return the listener's result status."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in CHROMIUM_ARGS:
        options.add_argument(argument)
    # An explicit driver path: selenium never looks for (or downloads) a driver itself.
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    try:
        driver.implicitly_wait(30)  # a bound on each page load, not a timed assertion
        driver.get(url)
        if not share:
            driver.find_element(By.ID, "share-organizations").click()
        driver.find_element(By.ID, "grant").click()
        return driver.find_element(By.ID, "result").get_attribute("data-status") or ""
    finally:
        driver.quit()
