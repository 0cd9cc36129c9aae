"""leaf_creds.repair: from a broken credential back to a working one, on its own.

Leaf sends an alert when a grower's credential breaks, and stops there.
:class:`Repairs` takes it from there: it opens one :class:`Case` per broken
(Leaf user, provider), hands the grower an authentication Magic Link
through your delivery hook, reminds them, reads the status until it stays
``OK`` (Leaf sends no recovery alert), closes the case, and reopens it if
it breaks again. The cases live in a :class:`CaseStore`: a SQLite file by
default, PostgreSQL for several watchers. The decisions are
:class:`RepairPolicy`'s pure functions. Built on the public API of
:class:`leaf_creds.LeafSession` only.
"""

from __future__ import annotations

from ._cases import (
    Case,
    CaseLink,
    CaseState,
    Cause,
    Source,
    Transition,
    TransitionKind,
    cause_of_alert,
    cause_of_status,
)
from ._deliver import (
    DELIVERY_HEADER,
    SIGNATURE_HEADER,
    CommandDelivery,
    Deliver,
    DeliveryError,
    LinkDelivery,
    WebhookDelivery,
)
from ._open import DEFAULT_STORE, open_store
from ._policy import (
    MISSING,
    RepairPolicy,
    Step,
    StepKind,
    after_check,
    after_check_failed,
    check_due,
    delivery_due,
    link_usable,
    next_action_at,
    next_step,
    on_news,
)
from ._postgres import PostgresStore
from ._repairs import AuditSummary, Repairs
from ._report import BrokenCase, Report, build_report, render_html, report_json
from ._sqlite import SQLiteStore
from ._store import (
    MIGRATIONS,
    SCHEMA_VERSION,
    CaseStore,
    CredentialSeen,
    DeliveryAttempt,
    Migration,
    StoreError,
)

__all__ = [
    "DEFAULT_STORE",
    "DELIVERY_HEADER",
    "MIGRATIONS",
    "MISSING",
    "SCHEMA_VERSION",
    "SIGNATURE_HEADER",
    "AuditSummary",
    "BrokenCase",
    "Case",
    "CaseLink",
    "CaseState",
    "CaseStore",
    "Cause",
    "CommandDelivery",
    "CredentialSeen",
    "Deliver",
    "DeliveryAttempt",
    "DeliveryError",
    "LinkDelivery",
    "Migration",
    "PostgresStore",
    "RepairPolicy",
    "Repairs",
    "Report",
    "SQLiteStore",
    "Source",
    "Step",
    "StepKind",
    "StoreError",
    "Transition",
    "TransitionKind",
    "WebhookDelivery",
    "after_check",
    "after_check_failed",
    "build_report",
    "cause_of_alert",
    "cause_of_status",
    "check_due",
    "delivery_due",
    "link_usable",
    "next_action_at",
    "next_step",
    "on_news",
    "open_store",
    "render_html",
    "report_json",
]
