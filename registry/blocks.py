"""Serial blocks: the runs of units in one state that tile every batch exactly.

Moving units splits the blocks at the ends of the moved range and replaces the covered part
with one block in the new state, so the invariants of DESIGN.md §4 hold by construction:
blocks never overlap, they cover their batch exactly, and a retired or cancelled block is
never replaced (:func:`require_movable` refuses first).
"""

from __future__ import annotations

from collections.abc import Iterable

from registry.errors import NotHolderError, RuleError, UnitsCancelledError, UnitsRetiredError, UnknownError
from registry.serials import SerialRange
from registry.vocabulary import BlockStatus
from registry.working import BatchInfo, Block, WorkingState


def resolve(state: WorkingState, serial: SerialRange, field: str = "serial") -> BatchInfo:
    """Check that ``serial`` lies inside its batch, as printed; return the batch.

    Raises :class:`UnknownError` for a batch that does not exist and :class:`RuleError` when
    the project, vintage or range disagree with it.
    """
    batch = state.batch(serial.batch)
    if batch is None:
        raise UnknownError(field, "batch", serial.batch)
    if batch.project != serial.project or batch.vintage != serial.vintage:
        raise RuleError(field, f"batch {batch.number} is of project {batch.project!r}, vintage {batch.vintage}")
    if serial.first < batch.first or serial.last > batch.last:
        raise RuleError(
            field, f"units {serial.first}-{serial.last} lie outside batch {batch.number} ({batch.first}-{batch.last})"
        )
    return batch


def covering(state: WorkingState, serial: SerialRange) -> list[Block]:
    """The blocks that hold any unit of ``serial``, in serial order."""
    return state.blocks(serial.batch).covering(serial.first, serial.last)


def require_movable(found: list[Block], serial: SerialRange, holder: str | None, status: BlockStatus) -> None:
    """Raise unless every unit of ``serial`` is in ``status`` and held by ``holder``.

    The error names the first offending sub-range and the log index since which it stands.
    """
    for block in found:
        if block.status == status and block.holder == holder:
            continue
        part = str(serial.sub(max(block.first, serial.first), min(block.last, serial.last)))
        if block.status == BlockStatus.RETIRED:
            raise UnitsRetiredError(part, block.since)
        if block.status == BlockStatus.CANCELLED:
            raise UnitsCancelledError(part, block.since)
        raise NotHolderError(part, holder or "the buffer pool", block.holder, block.since)


def record_movement(
    state: WorkingState,
    at: int,
    part: int,
    kind: str,
    serial: SerialRange,
    *,
    sender: str | None,
    receiver: str | None,
    came_from: Iterable[Block] = (),
) -> None:
    """Record one step of the units' lineage: ``kind`` moved ``serial`` from ``sender`` to ``receiver``.

    ``came_from`` are the blocks the units were in: the steps that put them there (their
    ``since``) are this step's parents in the ownership graph.
    """
    state.add(
        "reg_movements",
        {
            "idx": at,
            "part": part,
            "kind": kind,
            "batch": serial.batch,
            "first": serial.first,
            "last": serial.last,
            "sender": sender,
            "receiver": receiver,
            "parents": " ".join(str(i) for i in sorted({block.since for block in came_from})),
        },
    )
