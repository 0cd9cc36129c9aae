"""What Airflow's providers manager reads about us: the ``leaf`` connection type."""

from __future__ import annotations

from typing import Any

from .._version import __version__

__all__ = ["get_provider_info"]


def get_provider_info() -> dict[str, Any]:
    """Describe the provider to Airflow: its hook, connection type and form fields."""
    return {
        "package-name": "leaf-creds",
        "name": "Leaf Agriculture credentials",
        "description": "Store, audit and rotate Leaf users' provider credentials; "
        "invite growers with Magic Links.",
        "versions": [__version__],
        "connection-types": [
            {
                "hook-class-name": "leaf_creds.airflow.LeafHook",
                "hook-name": "Leaf Agriculture",
                "connection-type": "leaf",
                "conn-fields": {
                    "token": {
                        "label": "Bearer token",
                        "description": "A fixed Leaf token; leave empty to log in with "
                        "Login and Password.",
                        # "password" makes Airflow treat the field as sensitive.
                        "schema": {"type": ["string", "null"], "format": "password"},
                    },
                    "remember_me": {
                        "label": "Remember me (30-day token)",
                        "schema": {"type": ["boolean", "null"], "default": False},
                    },
                    "timeout": {
                        "label": "Seconds one HTTP attempt may take",
                        "schema": {"type": ["number", "null"], "default": 30},
                    },
                },
                "ui-field-behaviour": {
                    "hidden-fields": ["schema", "port"],
                    "relabeling": {"host": "Base URL", "login": "Leaf username"},
                    "placeholders": {
                        "host": "https://api.withleaf.io",
                        "login": "you@example.com",
                    },
                },
            }
        ],
    }
