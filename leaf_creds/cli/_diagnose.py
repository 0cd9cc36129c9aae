"""``leaf-creds diagnose USER [--provider P]``: why a user's credentials bring data or not.

For each credential of the user (``leaf.diagnose``): its status, the last
troubleshooting events (masked), John Deere organizations and
``organizationDataSync``, Leaf's integrations summary, and one verdict with
the next step in words a support person can forward. A readable table on a
terminal, JSON otherwise (or with ``--json``). Exit 0 when no credential
needs anything done, 1 when one does (or none was found), 2 for bad usage.
No secret is printed: the events are masked, and nothing else read holds one.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any, TextIO

from .. import (
    Configuration,
    ConnectedOrganization,
    CredentialDiagnosis,
    CredentialFacts,
    Diagnosis,
    IntegrationSummary,
    Organization,
    OrganizationConnections,
    default_registry,
)
from ._common import (
    EXIT_FAILED,
    EXIT_OK,
    Commands,
    check_user,
    make_session,
    resource_of,
    with_session,
)

__all__ = ["add_parser", "diagnosis_json", "print_diagnosis", "run"]


def add_parser(commands: Commands) -> None:
    """Add ``diagnose``."""
    sub = commands.add(
        "diagnose", run,
        "say why a user's credentials bring data or not, and the next step for each",
    )  # fmt: skip
    sub.add_argument("user_id", metavar="USER", help="the Leaf user's id")
    sub.add_argument(
        "--provider", metavar="P", help="only this provider's credential (a slug, e.g. john-deere)"
    )
    shown = sub.add_mutually_exclusive_group()
    shown.add_argument(
        "--json", action="store_true", help="print JSON (the default when stdout is not a terminal)"
    )
    shown.add_argument(
        "--table", action="store_true", help="print the readable table even when piped"
    )


def run(args: argparse.Namespace) -> int:
    """Diagnose the user; print the table or the JSON."""
    registry = default_registry()
    user_id = check_user(args.user_id)
    provider = None if args.provider is None else resource_of(registry, args.provider)
    leaf = make_session(args, registry)
    diagnosis = asyncio.run(with_session(leaf, leaf.diagnose(user_id, provider)))
    if args.json or not (args.table or sys.stdout.isatty()):
        sys.stdout.write(json.dumps(diagnosis_json(diagnosis), indent=2) + "\n")
    else:
        print_diagnosis(diagnosis, sys.stdout)
    return EXIT_OK if diagnosis.ok else EXIT_FAILED


def _time(value: Any) -> str | None:
    return None if value is None else value.isoformat()


def _events_json(facts: CredentialFacts) -> list[dict[str, Any]]:
    return [
        {
            "id": event.id,
            "statusCode": event.status_code,
            "createdDate": _time(event.created_date),
            "body": event.body,  # masked by leaf.diagnose
            "headers": event.headers,
        }
        for event in facts.events
    ]


def _connections_json(connections: OrganizationConnections | None) -> dict[str, Any] | None:
    if connections is None:
        return None

    def side(orgs: tuple[ConnectedOrganization, ...]) -> list[dict[str, Any]]:
        return [
            {"id": o.id, "name": o.name, "access": o.access.name, "managementUri": o.management_uri}
            for o in orgs
        ]

    return {
        "connected": side(connections.connected),
        "notConnected": side(connections.not_connected),
    }


def _organizations_json(orgs: tuple[Organization, ...] | None) -> list[dict[str, Any]] | None:
    if orgs is None:
        return None
    return [
        {
            "providerOrgId": o.provider_org_id,
            "providerOrgName": o.provider_org_name,
            "status": None if o.status is None else str(o.status),
            "access": o.access.name,
            "managementUri": o.management_uri,
        }
        for o in orgs
    ]


def _configuration_json(config: Configuration | None) -> dict[str, Any] | None:
    if config is None:
        return None
    sync = config.organization_data_sync
    return {
        "inherited": config.inherited,
        "organizationDataSync": None if sync is None else str(sync),
        "fieldsAutoSync": config.fields_auto_sync,
        "operationsAutoSync": config.operations_auto_sync,
    }


def _summary_json(summary: IntegrationSummary | None) -> dict[str, Any] | None:
    if summary is None:
        return None
    return {
        "provider": summary.leaf_provider,
        "growers": summary.growers,
        "farms": summary.farms,
        "fields": summary.fields,
        "syncReferenceTime": _time(summary.sync_reference_time),
    }


def _credential_json(judged: CredentialDiagnosis) -> dict[str, Any]:
    facts = judged.facts
    verdict = judged.verdict
    return {
        "provider": judged.provider,
        "credentialId": judged.credential_id,
        "status": None if facts.status is None else str(facts.status),
        "createdTime": _time(facts.created_time),
        "verdict": {"code": str(verdict.code), "ok": verdict.ok, "message": verdict.message},
        "events": _events_json(facts),
        "organizations": _connections_json(facts.connections),
        "syncedOrganizations": _organizations_json(facts.organizations),
        "configuration": _configuration_json(facts.configuration),
        "summary": _summary_json(facts.summary),
        "problems": list(judged.problems),
    }


def diagnosis_json(diagnosis: Diagnosis) -> dict[str, Any]:
    """Return a diagnosis as JSON: each credential's facts, verdict and problems."""
    return {
        "userId": diagnosis.user_id,
        "checkedAt": _time(diagnosis.checked_at),
        "ok": diagnosis.ok,
        "credentials": [_credential_json(judged) for judged in diagnosis.credentials],
    }


def _details(judged: CredentialDiagnosis) -> list[str]:
    """Return the lines under a credential's row: what the verdict was made of."""
    facts = judged.facts
    lines: list[str] = []
    if facts.connections is not None:
        lines.append(
            f"organizations: {len(facts.connections.connected)} shared, "
            f"{len(facts.connections.not_connected)} not shared"
        )
    if facts.organizations is not None:
        statuses = ", ".join(
            f"{o.provider_org_name or o.provider_org_id} {o.status}" for o in facts.organizations
        )
        lines.append(f"synced organizations: {statuses or 'none'}")
    if facts.configuration is not None:
        config = facts.configuration
        own = "inherited from the owner" if config.inherited else "the user's own"
        lines.append(f"organizationDataSync: {config.organization_data_sync} ({own})")
    if facts.summary is not None:
        summary = facts.summary
        lines.append(
            f"summary: {summary.fields} fields, synced {_time(summary.sync_reference_time)}"
        )
    for event in facts.events:
        lines.append(f"event {_time(event.created_date)} {event.status_code}: {event.body}")
    lines += [f"could not read {problem}" for problem in judged.problems]
    return lines


def print_diagnosis(diagnosis: Diagnosis, out: TextIO) -> None:
    """Print a diagnosis as a table with the next steps, then what each verdict read."""
    if not diagnosis.credentials:
        out.write(f"{diagnosis.user_id}: no credential to diagnose\n")
        return
    rows = [["PROVIDER", "STATUS", "VERDICT", "NEXT STEP"]] + [
        [
            judged.provider,
            "-" if judged.facts.status is None else str(judged.facts.status),
            str(judged.verdict.code),
            judged.verdict.message,
        ]
        for judged in diagnosis.credentials
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    out.write(f"Leaf user {diagnosis.user_id}\n")
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
        out.write("  ".join([*cells, row[3]]) + "\n")
    for judged in diagnosis.credentials:
        out.write(f"\n{judged.provider}:\n")
        out.writelines(f"  {line}\n" for line in _details(judged))
