"""Leaf's built-in providers, one small module each, all of the same shape.

Each module defines the create schema, the record and the
:class:`~leaf_creds.CredentialResource` that ties them to a slug.
``BUILTIN`` lists them in the order of Leaf's provider table.
"""

from __future__ import annotations

from .cnhi import CNHI, CnhiCredentials, CnhiRecord
from .sentera import SENTERA, SenteraCredentials, SenteraRecord

__all__ = [
    "BUILTIN",
    "CNHI",
    "SENTERA",
    "CnhiCredentials",
    "CnhiRecord",
    "SenteraCredentials",
    "SenteraRecord",
]

BUILTIN = (SENTERA, CNHI)
