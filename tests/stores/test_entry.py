"""What a store holds, byte for byte: the entry envelope (a value, its times, a signed header), and recordings."""

from __future__ import annotations

import math
import pickle
import struct

import pytest

from proxycache._entry import HEADER_SIZE, Entry, EntryError, dump_entry, load_entry, signing_key
from proxycache._recording import Recording
from proxycache.serializers import JsonSerializer, PickleSerializer, SignatureError

KEY = "tests.Entry.get:" + "ab" * 20
OTHER = "tests.Entry.get:" + "cd" * 20


def test_make_sets_the_windows() -> None:
    entry = Entry.make({"a": 1}, ttl=10, stale=5, now=1000.0)
    assert (entry.created, entry.expires, entry.stale_until) == (1000.0, 1010.0, 1015.0)
    assert entry.fresh(1009.9)
    assert not entry.fresh(1010.0)
    assert entry.servable(1014.9)
    assert not entry.servable(1015.0)
    assert entry.store_ttl(now=1000.0) == 15.0  # the store keeps it through the stale window
    assert entry.store_ttl(now=2000.0) == 0.001  # never "no expiry" by accident


def test_no_ttl_means_forever() -> None:
    entry = Entry.make("v", now=5.0)
    assert entry.expires == entry.stale_until == math.inf
    assert entry.fresh(1e18)
    assert entry.store_ttl() is None


def test_bytes_round_trip_with_the_times() -> None:
    entry = Entry.make([1, 2], ttl=60, stale=30, now=100.0)
    data = dump_entry(JsonSerializer(), KEY, entry)
    assert len(entry.header()) == HEADER_SIZE == 28
    assert data.startswith(entry.header())
    assert load_entry(JsonSerializer(), KEY, data) == entry


@pytest.mark.parametrize(
    "data",
    [b"", b"pce1", b"x" * 40, struct.pack(">4sddd", b"pce1", 10.0, 5.0, 20.0) + b"1"],
    ids=["empty", "short", "other-format", "times-out-of-order"],
)
def test_other_bytes_are_refused(data: bytes) -> None:
    with pytest.raises(EntryError):
        load_entry(JsonSerializer(), KEY, data)


def test_a_signature_covers_the_times() -> None:
    signer = PickleSerializer(secret="s3cret")
    entry = Entry.make({"answer": 42}, ttl=60, stale=0, now=100.0)
    data = dump_entry(signer, KEY, entry)
    assert load_entry(signer, KEY, data).value == {"answer": 42}
    # Someone with write access makes the entry live forever: the signature no longer checks out.
    forever = Entry(None, entry.created, math.inf, math.inf).header() + data[HEADER_SIZE:]
    with pytest.raises(SignatureError):
        load_entry(signer, KEY, forever)
    later = Entry(None, entry.created, entry.expires + 3600, entry.stale_until + 3600).header() + data[HEADER_SIZE:]
    with pytest.raises(SignatureError):
        load_entry(signer, KEY, later)


def test_a_signed_entry_copied_to_another_key_is_refused() -> None:
    signer = PickleSerializer(secret="s3cret")
    data = dump_entry(signer, KEY, Entry.make("mine", ttl=60))
    with pytest.raises(SignatureError):
        load_entry(signer, OTHER, data)


def test_the_signed_identity_is_the_key_and_the_header() -> None:
    entry = Entry.make(None, ttl=1, now=0.0)
    assert signing_key(KEY, entry) == KEY + "\x00" + entry.header().hex()
    assert signing_key(KEY, entry) != signing_key(KEY, Entry.make(None, ttl=2, now=0.0))


def test_a_pickled_recording_reads_the_same_in_earlier_releases() -> None:
    # Processes of different releases may share a store: the bytes of a
    # pickled recording (streams="replay"), class name included, are what
    # earlier releases wrote.
    earlier = (
        b"\x80\x04\x95/\x00\x00\x00\x00\x00\x00\x00\x8c\x12proxycache._replay\x94\x8c\tRecording"
        b"\x94\x93\x94K\x01K\x02\x86\x94\x88\x86\x94R\x94."
    )
    assert pickle.dumps(Recording([1, 2], is_async=True), protocol=4) == earlier
    assert pickle.loads(earlier) == Recording([1, 2], is_async=True)
    assert Recording([1, 2]) != [1, 2]  # a recording is not a list
    assert "2 items" in repr(Recording([1, 2]))
