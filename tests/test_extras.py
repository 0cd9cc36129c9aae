"""The test extra holds what the tests need; the developer tools come with the dev extra."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def extras() -> dict[str, list[str]]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    found: dict[str, list[str]] = project["optional-dependencies"]
    return found


def names(requirements: list[str]) -> set[str]:
    return {re.split(r"[<>=!~\[ ;]", requirement, maxsplit=1)[0] for requirement in requirements}


class TestExtras:
    def test_test_extra_has_no_developer_tools(self) -> None:
        """The test extra leaves mypy and ruff out: the tests never run them."""
        assert set() == names(extras()["test"]) & {"mypy", "ruff"}

    def test_dev_extra_is_test_plus_the_tools(self) -> None:
        """The dev extra is the test extra plus mypy (and asyncpg-stubs), ruff and mutmut."""
        dev = extras()["dev"]

        assert "leaf-creds[test]" in dev
        assert {"leaf-creds", "mypy", "ruff", "mutmut", "asyncpg-stubs"} == names(dev)

    def test_readme_development_installs_dev(self) -> None:
        """The README's Development section installs the dev extra."""
        readme = (ROOT / "README.md").read_text()
        development = readme.split("## Development", 1)[1].split("\n## ", 1)[0]

        assert "pip install -q -e '.[dev]'" in development

    def test_ci_installs_dev_before_the_tools(self) -> None:
        """.ci/run installs the dev extra before it runs mypy and ruff."""
        ci = (ROOT / ".ci" / "run").read_text().splitlines()
        install = ci.index(".venv/bin/pip install -q -e '.[dev]'")

        assert install < ci.index(".venv/bin/mypy")
        assert install < ci.index(".venv/bin/ruff check .")
