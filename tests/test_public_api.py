"""The public surface: a complete, sorted __all__ and a documented exception tree."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

import leaf_creds as lc

ROOT = Path(__file__).parent.parent


class TestPublicSurface:
    def test_all_is_sorted(self) -> None:
        """__all__ lists constants, then classes, then functions, each alphabetically."""

        def kind(name: str) -> int:
            return 0 if name.isupper() else 1 if name[0].isupper() else 2

        assert sorted(lc.__all__, key=lambda n: (kind(n), n)) == lc.__all__

    def test_all_is_complete(self) -> None:
        """Every public name of the package is in __all__, and every entry exists."""
        public = {name for name in vars(lc) if not name.startswith("_")}
        modules = {name for name in public if type(getattr(lc, name)).__name__ == "module"}

        assert public - modules - {"annotations"} <= set(lc.__all__) | {"__version__"}
        assert all(hasattr(lc, name) for name in lc.__all__)

    def test_exception_tree(self) -> None:
        """Every error derives from LeafError, the API errors from APIError."""
        for name in ("BadRequestError", "AuthenticationError", "PermissionDeniedError",
                     "NotFoundError", "ConflictError", "RateLimitError", "ServerError"):
            assert issubclass(getattr(lc, name), lc.APIError)
        for error in (lc.APIError, lc.TransportError, lc.DecodeError, lc.OutcomeUnknownError,
                      lc.ValidationError, lc.UnknownProviderError):
            assert issubclass(error, lc.LeafError)
        assert issubclass(lc.RequestTimeoutError, lc.TransportError)
        assert issubclass(lc.ValidationError, ValueError)
        assert issubclass(lc.UnknownProviderError, LookupError)

    def test_exception_tree_is_drawn_in_the_docstring(self) -> None:
        """The module docstring draws every exception class."""
        from leaf_creds import _exceptions

        doc = _exceptions.__doc__ or ""
        errors = [n for n in lc.__all__ if n.endswith("Error") and n != "FieldError"]
        assert [] == [name for name in errors if name not in doc]

    def test_typed(self) -> None:
        """The package ships py.typed."""
        assert (ROOT / "leaf_creds" / "py.typed").exists()

    def test_import_loads_only_the_core(self) -> None:
        """`import leaf_creds` leaves the CLI, the fake, providers, alerts and cattrs for later."""
        code = (
            "import sys, leaf_creds; "
            "print(sorted(m for m in sys.modules if m.startswith(("
            "'leaf_creds.cli', 'leaf_creds.testing', 'leaf_creds.providers', "
            "'leaf_creds._alerts', 'leaf_creds._receiver', 'rich', 'cattrs', 'aiohttp.web'))))"
        )
        out = subprocess.run(  # noqa: S603 - our own interpreter and code
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        ).stdout

        assert "[]" == out.strip()

    def test_lazy_names_resolve(self) -> None:
        """Every name in __all__ resolves, lazily loaded ones included, and dir() lists them."""
        code = (
            "import leaf_creds as lc; "
            "missing = [n for n in lc.__all__ if getattr(lc, n, None) is None]; "
            "print(missing, set(lc.__all__) <= set(dir(lc)))"
        )
        out = subprocess.run(  # noqa: S603 - our own interpreter and code
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        ).stdout

        assert "[] True" == out.strip()

    def test_unknown_attribute(self) -> None:
        """A name that is not public raises AttributeError as usual."""
        with pytest.raises(AttributeError, match="no attribute 'Nope'"):
            lc.Nope  # type: ignore[attr-defined]  # noqa: B018


class TestReadme:
    def _commands(self) -> list[str]:
        readme = (ROOT / "README.md").read_text()
        quick = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
        return re.findall(r"```sh\n(.+?)\n```", quick)

    def test_two_quick_start_commands(self) -> None:
        """The quick start has exactly two commands: the demo and the tests."""
        demo, tests = self._commands()

        assert demo.endswith("leaf-creds demo")
        assert tests.endswith("-m pytest --cov")

    def test_ci_runs_the_readme_commands(self) -> None:
        """.ci/run runs the README's test command and its main job, character for character."""
        ci = (ROOT / ".ci" / "run").read_text().splitlines()

        for command in self._commands():
            assert command in ci
