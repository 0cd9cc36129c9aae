"""A LeafSession made without options reads the environment the CLI reads."""

from __future__ import annotations

import pytest

import leaf_creds as lc
from leaf_creds.testing import FakeLeaf

TOKEN = "env-token-3b1f"
SENTERA_BODY = {"username": "grower", "password": "env-password", "organizationName": "Acme"}


@pytest.fixture(autouse=True)
def clean(monkeypatch: pytest.MonkeyPatch) -> None:
    """No LEAF_* variable from the machine leaks into a test."""
    for name in ("LEAF_TOKEN", "LEAF_USERNAME", "LEAF_PASSWORD", "LEAF_BASE_URL"):
        monkeypatch.delenv(name, raising=False)


class TestEnvironment:
    async def test_a_bare_session_uses_leaf_token_and_leaf_base_url(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """LeafSession() sends LEAF_TOKEN to LEAF_BASE_URL, as `leaf-creds` does."""
        async with FakeLeaf(tokens=[TOKEN]) as fake:
            user = fake.add_user()
            fake.add_credential(user.id, lc.SENTERA, SENTERA_BODY)
            monkeypatch.setenv("LEAF_TOKEN", f" {TOKEN}\n")
            monkeypatch.setenv("LEAF_BASE_URL", fake.url)
            async with lc.LeafSession() as leaf:
                record = await leaf.get(lc.SENTERA, user.id)

        assert ("OK", fake.url) == (record.status, leaf.base_url)
        assert "auth=token" in repr(leaf)
        assert TOKEN not in repr(leaf)

    async def test_a_bare_session_logs_in_with_leaf_username_and_password(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Without LEAF_TOKEN, LEAF_USERNAME and LEAF_PASSWORD log in."""
        async with FakeLeaf(accounts={"me@example.com": "pw-from-env"}) as fake:
            user = fake.add_user()
            monkeypatch.setenv("LEAF_USERNAME", "me@example.com")
            monkeypatch.setenv("LEAF_PASSWORD", "pw-from-env")
            monkeypatch.setenv("LEAF_BASE_URL", fake.url)
            async with lc.LeafSession() as leaf:
                with pytest.raises(lc.NotFoundError):
                    await leaf.get(lc.SENTERA, user.id)

        assert "auth=login" in repr(leaf)
        assert 1 == fake.count("POST", "/api/authenticate")

    def test_given_options_win_over_the_environment(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """A token= or base_url= passed in is used, whatever the environment says."""
        monkeypatch.setenv("LEAF_USERNAME", "someone")
        monkeypatch.setenv("LEAF_BASE_URL", "https://elsewhere.example")
        leaf = lc.LeafSession(token="given", base_url="https://given.example")

        assert "https://given.example" == leaf.base_url
        assert "auth=token" in repr(leaf)

    def test_nothing_given_and_nothing_set_says_where_to_look(self) -> None:
        """With no option and no variable, the error names the variables too."""
        with pytest.raises(lc.ValidationError, match="or set LEAF_TOKEN, or LEAF_USERNAME"):
            lc.LeafSession()

    def test_a_half_set_login_is_refused(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """LEAF_USERNAME without LEAF_PASSWORD is the same error as username= alone."""
        monkeypatch.setenv("LEAF_USERNAME", "me@example.com")
        with pytest.raises(lc.ValidationError, match="username and password must both be"):
            lc.LeafSession()
