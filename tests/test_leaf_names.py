"""Leaf's CamelCase provider names matched to our providers, without case or punctuation."""

from __future__ import annotations

import pytest

import leaf_creds as lc
from leaf_creds._leaf_names import find_provider, fold, leaf_name


class TestFold:
    def test_keeps_letters_and_digits_lowercased(self) -> None:
        """Case, '-', '_' and spaces do not matter."""
        assert "johndeere" == fold("John_Deere-")
        assert "agvance" == fold("Ag Vance")


class TestLeafName:
    def test_the_magic_link_name_first(self) -> None:
        """John Deere is JohnDeere, as in its Magic Links."""
        assert "JohnDeere" == leaf_name(lc.JOHN_DEERE)

    def test_the_app_key_segment_next(self) -> None:
        """Lindsay has no Magic Link name but an app-key segment."""
        assert "Lindsay" == leaf_name(lc.LINDSAY)

    def test_else_the_slug_capitalized(self) -> None:
        """A provider with neither joins its slug's words, capitalized."""
        assert "Agvance" == leaf_name(lc.AGVANCE)


class TestFindProvider:
    @pytest.mark.parametrize(
        ("name", "slug"),
        [
            ("JohnDeere", "john-deere"),
            ("CNHi", "cnhi"),
            ("CNHI", "cnhi"),
            ("AgVance", "agvance"),
            ("ClimateFieldView", "climate-field-view"),
            ("CNHIFieldOps", "cnhi-field-ops"),
            ("john-deere", "john-deere"),
            ("johnDeere", "john-deere"),
        ],
    )
    def test_leaf_spellings_name_our_providers(self, name: str, slug: str) -> None:
        """Every spelling Leaf's pages use finds the provider."""
        found = find_provider(lc.default_registry(), name)
        assert found is not None
        assert slug == found.slug

    @pytest.mark.parametrize("name", ["Leaf", "", "---", None, 3])
    def test_anything_else_names_none(self, name: object) -> None:
        """Leaf's own name, empty text and non-strings name no provider."""
        assert None is find_provider(lc.default_registry(), name)

    def test_a_slug_is_matched_by_its_words_when_the_leaf_name_differs(self) -> None:
        """A provider whose Leaf name is not its slug is found by either."""
        registry = lc.Registry()
        registry.register(
            lc.CredentialResource(
                "acme-farm", lc.SenteraCredentials, lc.SenteraRecord, link_name="Acme"
            )
        )
        by_slug = find_provider(registry, "ACME_FARM")
        by_name = find_provider(registry, "acme")
        assert by_slug is not None
        assert by_name is by_slug
