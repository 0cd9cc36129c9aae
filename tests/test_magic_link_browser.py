"""The fake's Magic Link page in a real headless browser: Debian's chromium, driven by selenium.

Needs ``/usr/bin/chromium`` and ``/usr/bin/chromedriver`` (``apt-get install -y chromium
chromium-driver``) and selenium (in the ``test`` extra). Without them the test skips, except
under CI (``CI`` set), where it fails: there it must run.
"""

from __future__ import annotations

import asyncio

import leaf_creds as lc
from leaf_creds.testing import FakeLeaf
from tests.cli_helpers import CHROMEDRIVER, CHROMIUM, CHROMIUM_ARGS, require_chromium


def connect_in_chromium(link: str, provider: str) -> str:
    """Open the link in headless chromium, pick the provider, sign in; return the result status."""
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
        driver.get(link)
        driver.find_element(By.ID, f"provider-{provider}").click()
        driver.find_element(By.ID, "username").send_keys("ada@example.com")
        driver.find_element(By.ID, "password").send_keys("grower-password")
        driver.find_element(By.ID, "sign-in").click()
        return driver.find_element(By.ID, "result").get_attribute("data-status") or ""
    finally:
        driver.quit()


async def test_a_grower_connects_john_deere_in_chromium(leaf_fake: FakeLeaf) -> None:
    """A link made through the SDK, clicked through in chromium, leaves an OK credential."""
    require_chromium()
    user = leaf_fake.add_user(name="Ada Grower").id
    assert lc.JOHN_DEERE.app_key is not None
    keys = lc.JOHN_DEERE.app_key.schema(client_key="jd-app-id", client_secret="jd-app-secret")
    async with lc.LeafSession(token=leaf_fake.token, base_url=leaf_fake.url) as leaf:
        await leaf.app_keys.create(lc.JOHN_DEERE, "LeafWidget", keys, environment="PRODUCTION")
        link = await leaf.magic_links.create(user, providers=[lc.JOHN_DEERE])
        assert link.link is not None

        # selenium blocks: drive it from a thread so the fake keeps answering.
        status = await asyncio.to_thread(connect_in_chromium, link.link, "JohnDeere")
        record = await leaf.get(lc.JOHN_DEERE, user)

    assert "OK" == status
    assert lc.CredentialStatus.OK == record.status
    assert "jd-app-id" == record.client_key
    assert lc.ClientEnvironment.PRODUCTION == record.client_environment
