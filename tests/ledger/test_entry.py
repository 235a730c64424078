"""Log entries: the direct encoder writes exactly the RFC 8785 bytes of the entry object."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from ledger import canonical
from ledger.dsse import Envelope, Signature
from ledger.entry import LogEntry

SIGNATURES = st.lists(
    st.builds(Signature, keyid=st.text(min_size=1, max_size=40), sig=st.binary(min_size=64, max_size=64)),
    min_size=1,
    max_size=4,
    unique_by=lambda s: s.keyid,
)
ENVELOPES = st.builds(
    Envelope,
    payload_type=st.text(min_size=1, max_size=60),
    payload=st.binary(max_size=300),
    signatures=SIGNATURES.map(tuple),
)


@settings(max_examples=500)
@given(ENVELOPES, st.just("2026-11-23T12:00:00.123456Z"))
def test_direct_encoding_equals_the_canonical_encoding_of_the_entry_object(envelope: Envelope, logged_at: str) -> None:
    entry = LogEntry(envelope, logged_at)
    expected = canonical.encode({"envelope": envelope.to_json(), "logged_at": logged_at})
    assert entry.encode() == expected
    assert LogEntry.decode(expected) == entry
