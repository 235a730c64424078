"""Bulk appends: verify envelopes on worker threads while the sequencer writes.

Ed25519 verification releases the GIL, so signature checks of the next batch run on
``workers`` threads while the current batch is written and committed. Nothing is appended
before every signature in its batch has verified.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from itertools import islice

from ledger import dsse
from ledger.keys import VerifierKey
from ledger.sequencer import Sequencer


def append_verified(
    sequencer: Sequencer,
    envelopes: Iterable[dsse.Envelope],
    keys: Mapping[str, VerifierKey],
    *,
    batch_size: int = 1000,
    workers: int = 2,
) -> int:
    """Verify and append ``envelopes`` in batches; return how many were appended.

    Raises :class:`ledger.errors.SignatureError` for the first envelope that does not verify;
    the batches before it stay appended, its own batch and those after it are not.
    """
    appended = 0
    with ThreadPoolExecutor(max_workers=workers) as pool:
        verified: tuple[list[dsse.Envelope], list[Future[None]]] | None = None
        for batch in _batches(envelopes, batch_size):
            step = -(-len(batch) // workers)
            checks = [pool.submit(_verify_all, batch[i : i + step], keys) for i in range(0, len(batch), step)]
            if verified is not None:
                appended += _append(sequencer, *verified)
            verified = (batch, checks)
        if verified is not None:
            appended += _append(sequencer, *verified)
    return appended


def _append(sequencer: Sequencer, batch: list[dsse.Envelope], checks: list[Future[None]]) -> int:
    for check in checks:
        check.result()
    sequencer.append(batch)
    return len(batch)


def _verify_all(envelopes: list[dsse.Envelope], keys: Mapping[str, VerifierKey]) -> None:
    for envelope in envelopes:
        dsse.verify(envelope, keys)


def _batches(items: Iterable[dsse.Envelope], size: int) -> Iterator[list[dsse.Envelope]]:
    iterator = iter(items)
    while batch := list(islice(iterator, size)):
        yield batch
