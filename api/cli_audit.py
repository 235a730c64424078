"""The CLI's ``registry audit``: offline from a data directory, or remote from a registry's public read API."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Annotated

import httpx
import typer
from rich.markup import escape

from api.cli_lineage import DatabaseOption
from api.console import console, fail, load_vkey, progress
from ledger.audit import AuditError, audit_log
from ledger.checkpoint import Checkpoint
from ledger.database import create_engine
from ledger.errors import CheckpointError, LedgerError
from ledger.keys import VerifierKey
from ledger.note import parse
from ledger.remote_audit import HttpLogSource, RemoteForkError, audit_remote, pin_path
from ledger.sequencer import write_atomically
from ledger.store import LogStore
from ledger.trust_policy import Policy
from registry import findings, replay
from registry.datadir import DataDir
from registry.errors import ReplayError, StateMismatchError

DEFAULT_STATE_DIR = Path("~/.config/carbon-registry/audit")


def audit_command(
    *,
    data_dir: Annotated[
        Path | None, typer.Option("--data-dir", help="The registry's data directory (an offline audit).")
    ] = None,
    vkey: Annotated[
        str | None, typer.Option(help="The log's verifier key (text or file); default DIR/log.vkey.")
    ] = None,
    checkpoint: Annotated[
        Path | None,
        typer.Option(
            help="A checkpoint you obtained yourself, to detect a rollback or a fork; "
            "default DIR/checkpoint, or with --url the pin under --state-dir."
        ),
    ] = None,
    policy: Annotated[
        Path | None,
        typer.Option(
            metavar="FILE", help="A trust policy (log key, witnesses, quorum): refuse checkpoints that miss it."
        ),
    ] = None,
    url: Annotated[
        str | None, typer.Option(help="Audit a running registry from its public read API, from the pinned checkpoint.")
    ] = None,
    state_dir: Annotated[
        Path, typer.Option(help="With --url: where the pinned checkpoint of each log is kept.")
    ] = DEFAULT_STATE_DIR,
    as_json: Annotated[bool, typer.Option("--json", help="With --url: print the result as JSON on stdout.")] = False,
    database_url: DatabaseOption = None,
) -> None:
    """Audit a registry: offline from its data directory, or remotely with --url.

    Offline (--data-dir): rebuild every tile and the root, then replay every event. The replay
    checks each signature against the keys bound at its log index and every rule, and rebuilds
    the registry's state, which must equal the state the registry serves.

    Remote (--url): fetch the latest checkpoint, check it against --policy (or --vkey), check
    that it extends the pinned one, and check every new entry against the signed tree; then pin
    it. A fork prints both signed notes as evidence and exits 1 without moving the pin.

    An auditor should pass --vkey or --policy and --checkpoint obtained independently: files
    inside the data directory are only as trustworthy as whoever controls it.
    """
    trust = _load_policy(policy)
    if trust is not None and vkey is not None and _read_vkey(vkey) not in {log.key for log in trust.logs}:
        raise fail(f"--vkey is not one of the logs in the policy {policy}")
    if url is not None:
        if data_dir is not None or database_url is not None:
            raise fail("--url audits a registry over HTTP: --data-dir and --database-url do not apply")
        if trust is None:
            if vkey is None:
                raise fail("--url needs --policy or --vkey: a key fetched from the server itself proves nothing")
            trust = Policy.for_log(_read_vkey(vkey))
        _audit_remote(url, trust, checkpoint, state_dir.expanduser(), as_json)
        return
    if data_dir is None:
        raise fail("say what to audit: --data-dir DIR (offline) or --url URL (a running registry)")
    _audit_offline(data_dir, vkey, checkpoint, trust, database_url)


def _audit_offline(
    data_dir: Path, vkey: str | None, checkpoint: Path | None, trust: Policy | None, database_url: str | None
) -> None:
    directory = DataDir(data_dir)
    try:
        if vkey is None and trust is not None:
            log_key = trust.log_key(None if len(trust.logs) == 1 else _origin_of(directory))
        else:
            log_key = load_vkey(vkey) if vkey else VerifierKey.parse(directory.log_vkey.read_text())
    except (OSError, LedgerError) as exc:
        raise fail(f"cannot read the log's verifier key: {exc}") from None
    pinned_file = checkpoint or directory.checkpoint
    pinned = pinned_file.read_text() if pinned_file.exists() else None
    if pinned is None:
        console.print(f"[yellow]warning:[/] no pinned checkpoint ({pinned_file}): a rollback cannot be detected")
    engine = create_engine(directory.database_url(database_url))
    store = LogStore(engine)

    try:
        if trust is not None:
            _check_policy(trust, store, pinned, independent=checkpoint is not None)
        with progress() as bar:
            task = bar.add_task("auditing entries", total=None)
            report = audit_log(
                store,
                log_key,
                pinned_checkpoint=pinned,
                progress=lambda done, total: bar.update(task, completed=done, total=total),
            )
            task = bar.add_task("replaying events", total=report.entries)
            with tempfile.TemporaryDirectory() as scratch_dir:
                scratch = create_engine(f"sqlite:///{Path(scratch_dir) / 'replay.db'}")
                try:
                    replay.verify_state(
                        store,
                        log_key.name,
                        engine,
                        scratch,
                        progress=lambda done, total: bar.update(task, completed=done, total=total),
                    )
                    with scratch.connect() as conn:
                        found = findings.load(conn)  # re-derived by the replay, equal to the served ones
                finally:
                    scratch.dispose()
    except AuditError as exc:
        console.print(f"[bold red]audit failed[/] at {exc.where}: {exc.reason}")
        raise typer.Exit(1) from None
    except ReplayError as exc:
        console.print(f"[bold red]audit failed[/] at entry {exc.index}: {exc.reason}")
        raise typer.Exit(1) from None
    except StateMismatchError as exc:
        console.print(f"[bold red]audit failed[/]: the registry's state differs from its log: {exc}")
        raise typer.Exit(1) from None
    except Exception as exc:  # a store that cannot even be read is an audit failure too
        raise fail(f"audit could not read the log: {exc}") from None
    finally:
        engine.dispose()
    void = [f for f in found if f.kind.voids]
    for finding in found:
        console.print(
            f"{'[bold red]void entry[/]' if finding.kind.voids else 'finding'} {finding.idx}.{finding.seq} "
            f"({finding.severity.value}, {finding.kind.value}): {escape(finding.message)} "
            f"(evidence: entries {', '.join(map(str, finding.evidence))})"
        )
    if void:
        # The registry never appends an entry its rules refuse: one in the log was written around it.
        entries = "1 entry" if len(void) == 1 else f"{len(void)} entries"
        console.print(f"[bold red]audit failed[/]: the log holds {entries} that the registry's rules refuse")
        raise typer.Exit(1)
    console.print(
        f"[bold green]audit passed[/]: {report.entries} entries, {report.tiles} tiles, "
        f"{report.checkpoints} checkpoints, every event replayed to the served state, "
        f"{len(found)} double-counting finding(s) re-derived; root {report.root.hex()}"
    )


def register(app: typer.Typer) -> None:
    """Add ``registry audit`` to ``app``."""
    app.command("audit")(audit_command)


def _check_policy(trust: Policy, store: LogStore, pinned: str | None, *, independent: bool) -> None:
    """Refuse the checkpoints the audit relies on when they miss the policy: the latest one
    recorded, and the pinned one when the auditor brought it (--checkpoint) or it is the newest.

    The data directory's own checkpoint file is written before witnesses cosign, so it is held
    to the policy only when nothing newer was recorded.
    """
    recorded = store.checkpoints()
    latest = recorded[-1] if recorded else None
    to_check = [(f"latest checkpoint (size {latest[0]})", latest[1])] if latest else []
    if pinned is not None:
        pinned_size = _size_of(pinned)
        if independent or latest is None or pinned_size is None or pinned_size > latest[0]:
            to_check.append(("pinned checkpoint", pinned))
    for where, note in to_check:
        try:
            trust.verify(note)
        except CheckpointError as exc:
            raise AuditError(where, f"does not meet the policy: {exc}") from None


def _size_of(note: str) -> int | None:
    try:
        return Checkpoint.parse(parse(note).text).size
    except LedgerError:
        return None  # a malformed pin is named by the audit itself


def _load_policy(file: Path | None) -> Policy | None:
    if file is None:
        return None
    try:
        return Policy.parse(file.read_text())
    except (OSError, LedgerError) as exc:
        raise fail(f"cannot use the policy {file}: {exc}") from None


def _read_vkey(vkey: str) -> VerifierKey:
    try:
        return load_vkey(vkey)
    except (OSError, LedgerError) as exc:
        raise fail(f"cannot read the log's verifier key: {exc}") from None


def _origin_of(directory: DataDir) -> str:
    return VerifierKey.parse(directory.log_vkey.read_text()).name


def remote_client(url: str) -> httpx.Client:
    """The HTTP client of a remote audit (tests replace it with an in-process application's)."""
    return httpx.Client(base_url=url.rstrip("/"), timeout=30.0, headers={"User-Agent": "registry-audit"})


def _audit_remote(url: str, trust: Policy, checkpoint: Path | None, state_dir: Path, as_json: bool) -> None:
    pins: dict[str, Path] = {}

    def pinned_for(origin: str) -> str | None:
        pins[origin] = file = checkpoint or pin_path(state_dir, origin)
        if file.exists():
            return file.read_text()
        console.print(
            f"[yellow]trust on first use:[/] no pinned checkpoint for {escape(origin)} ({file}): "
            "auditing from the empty tree; later runs check that the log extends what this run pins"
        )
        return None

    with remote_client(url) as client, progress() as bar:
        task = bar.add_task("auditing new entries", total=None)
        try:
            report = audit_remote(
                HttpLogSource(client),
                trust,
                pinned_for,
                progress=lambda done, total: bar.update(task, completed=done, total=total),
            )
        except RemoteForkError as exc:
            bar.stop()
            _report_fork(url, exc, pins, as_json)
            raise typer.Exit(1) from None
        except (AuditError, LedgerError) as exc:
            bar.stop()
            where, reason = (exc.where, exc.reason) if isinstance(exc, AuditError) else ("log", str(exc))
            if as_json:
                print(json.dumps({"status": "failed", "url": url, "where": where, "reason": reason}))
            console.print(f"[bold red]remote audit failed[/] at {escape(where)}: {escape(reason)}")
            raise typer.Exit(1) from None
    pin = pins[report.origin]
    try:
        write_atomically(pin, report.checkpoint.encode())  # a crash leaves the old pin or the new one
    except OSError as exc:
        raise fail(f"the audit passed but the pin could not be written to {pin}: {exc}") from None
    if as_json:
        print(
            json.dumps(
                {
                    "status": "passed",
                    "url": url,
                    "origin": report.origin,
                    "previous_size": report.previous_size,
                    "size": report.size,
                    "root": report.root.hex(),
                    "entries_checked": report.entries,
                    "tiles_fetched": report.tiles,
                    "first_use": report.first_use,
                    "cosigners": [k.name for k in report.checkpoint.cosigners],
                    "pin": str(pin),
                }
            )
        )
    names = ", ".join(k.name for k in report.checkpoint.cosigners)
    cosigned = f"cosigned by {names}" if names else "no cosignature required"
    console.print(
        f"[bold green]remote audit passed[/]: {escape(report.origin)} grew from {report.previous_size} to "
        f"{report.size} entries; {report.entries} new entries checked against the signed tree "
        f"({report.tiles} tiles fetched); {escape(cosigned)}; root {report.root.hex()}; pinned in {pin}"
    )


def _report_fork(url: str, exc: RemoteForkError, pins: dict[str, Path], as_json: bool) -> None:
    """Print both signed notes verbatim: together they prove the log showed two histories."""
    pin = next(iter(pins.values()))
    if as_json:
        print(
            json.dumps({"status": "fork", "url": url, "reason": exc.reason, "pinned": exc.pinned, "latest": exc.latest})
        )
    else:
        print(f"pinned checkpoint ({pin}):\n{exc.pinned}")
        print(f"latest checkpoint ({url}/log/checkpoint):\n{exc.latest}", end="")
    console.print(
        f"[bold red]fork detected[/]: {escape(exc.reason)}; the two signed checkpoints printed on stdout "
        f"are the evidence. The pin in {pin} is unchanged."
    )
