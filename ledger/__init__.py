"""A tamper-evident, append-only log of signed statements.

Knows nothing of carbon. RFC 8785 canonical JSON (:mod:`ledger.canonical`), DSSE envelopes
(:mod:`ledger.dsse`), the RFC 9162 Merkle tree (:mod:`ledger.merkle`) stored as C2SP tiles
(:mod:`ledger.tiles`, :mod:`ledger.store`), signed checkpoints (:mod:`ledger.checkpoint`,
:mod:`ledger.note`), receipts (:mod:`ledger.receipt`), the sequencer that appends
(:mod:`ledger.sequencer`) and the offline audit (:mod:`ledger.audit`). An auditor's verifier
needs nothing outside this package.
"""
