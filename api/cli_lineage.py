"""The CLI's double-counting verbs: ``registry import``, ``registry trace`` and ``registry findings``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from api.console import console, fail, opened_node
from ledger.errors import LedgerError
from ledger.keys import SignerKey
from registry import commands, eligibility, findings, imports, lineage
from registry.errors import RegistryError
from registry.external import SOURCES, ExportFormatError, parse_export
from registry.findings import Kind
from registry.state import Applied

DataDirOption = Annotated[Path, typer.Option("--data-dir", help="The registry's data directory.")]
DatabaseOption = Annotated[
    str | None,
    typer.Option(
        "--database-url", envvar="REGISTRY_DATABASE_URL", help="Use this database instead of DIR/registry.db."
    ),
]


def import_command(
    source: Annotated[str, typer.Argument(metavar="REGISTRY", help=f"One of: {', '.join(SOURCES)}.")],
    files: Annotated[
        list[Path], typer.Argument(metavar="FILE...", help="CSV exports, as the registry publishes them.")
    ],
    *,
    data_dir: DataDirOption,
    key: Annotated[
        Path | None, typer.Option(metavar="FILE", help="The operator's key; default: DIR/keys/OPERATOR.key.")
    ] = None,
    operator: Annotated[str, typer.Option(help="The operator's account id.")] = "operator",
    database_url: DatabaseOption = None,
) -> None:
    """Import public exports of another registry as signed events, and report what they raise.

    Every row becomes part of an ``import`` event carrying the file's SHA-256; rows that could not
    be used as published are recorded with the reason. Importing a file again changes nothing.
    """
    parsed = []
    for file in files:
        try:
            parsed.append((file, parse_export(source, file.read_bytes())))
        except OSError as exc:
            raise fail(f"cannot read {file}: {exc}") from None
        except ExportFormatError as exc:
            raise fail(f"{file}: {exc}") from None
    key_file = key or data_dir / "keys" / f"{operator}.key"
    try:
        signer = SignerKey.parse(key_file.read_text())
    except (OSError, LedgerError) as exc:
        raise fail(f"cannot read the operator's key {key_file}: {exc}") from None
    with opened_node(data_dir, database_url) as node:
        for file, export in parsed:
            made = imports.import_commands(node.origin, operator, export, file.name)
            outcomes = node.registry.submit_many([commands.sign(c, [signer]) for c in made])
            refused = [o for o in outcomes if not isinstance(o, Applied)]
            if refused:
                raise fail(f"{file}: refused: {refused[0]}")
            applied = [o for o in outcomes if isinstance(o, Applied)]
            again = " (already imported: nothing changed)" if all(o.duplicate for o in applied) else ""
            print(
                json.dumps(
                    {
                        "file": str(file),
                        "sha256": export.sha256,
                        "kind": export.kind,
                        "rows": export.rows,
                        "records": len(export.records),
                        "problems": len(export.problems),
                        "indices": [o.index for o in applied],
                    }
                )
            )
            console.print(
                f"{file.name}: {export.rows} rows, {len(export.records)} records, "
                f"{len(export.problems)} problems, in {len(applied)} event(s){again}"
            )
            for problem in export.problems[:10]:
                console.print(escape(f"  row {problem.row}, {problem.field}: {problem.reason}"))
            if len(export.problems) > 10:
                console.print(f"  … and {len(export.problems) - 10} more (GET /v1/imports/{export.sha256}/problems)")


def trace_command(
    serial: Annotated[str, typer.Argument(help="A printed serial range, e.g. fi-biochar-1.2028.1.1-100.")],
    data_dir: DataDirOption,
    output: Annotated[str, typer.Option("--format", help="json or graphml.")] = "json",
    database_url: DatabaseOption = None,
) -> None:
    """Print the lineage of a serial range: every step from issuance, with its log index."""
    if output not in ("json", "graphml"):
        raise fail(f"--format must be json or graphml, not {output!r}")
    with opened_node(data_dir, database_url) as node, node.engine.connect() as conn:
        try:
            steps, report = eligibility.trace_report(conn, node.lineage, serial)
        except RegistryError as exc:
            raise fail(str(exc)) from None
    print(lineage.to_graphml(steps) if output == "graphml" else json.dumps(report, indent=2))


def findings_command(
    *,
    data_dir: DataDirOption,
    kind: Annotated[Kind | None, typer.Option(help="Only findings of this kind.")] = None,
    account: Annotated[str | None, typer.Option(help="Only findings about this account.")] = None,
    project: Annotated[str | None, typer.Option(help="Only findings about this project.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON lines instead of text.")] = False,
    database_url: DatabaseOption = None,
) -> None:
    """List the double-counting findings, each with its evidence (log indices)."""
    with opened_node(data_dir, database_url) as node, node.engine.connect() as conn:
        found = findings.load(conn, kind=kind, account=account, project=project)
    for finding in found:
        if as_json:
            print(json.dumps(finding.to_json()))
        else:
            print(
                f"{finding.idx}.{finding.seq} {finding.severity.value} {finding.kind.value}: {finding.message} "
                f"[evidence: {', '.join(map(str, finding.evidence))}]"
            )
    if not as_json:
        console.print(f"{len(found)} finding(s)")


def register(app: typer.Typer) -> None:
    """Add the double-counting verbs to ``app``."""
    app.command("import")(import_command)
    app.command("trace")(trace_command)
    app.command("findings")(findings_command)
