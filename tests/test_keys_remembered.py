"""Unhashable arguments keyed again from memory: always the key freeze makes, never another value's.

A dict or list argument passed again (a chat request's messages) is not
walked in Python again: ``_keys.freeze_again`` remembers the frozen key of
plain data (None, bools, numbers and strings in lists, dicts, sets and
tuples) by its ``marshal`` encoding, from the second time it sees it. These
tests hold it to ``freeze``: for any value, however often seen, and after
any look-alike (bytes and the buffers marshal encodes as bytes, NaN, 1 and
1.0 and True, dicts in another order, sentinel objects), the key is the one
freeze makes, and what is remembered stays bounded and goes with
``cache_clear()``.
"""

from __future__ import annotations

import array
import marshal
import sys
import threading
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from proxycache import CachedProxy, cache_info, cache_methods
from proxycache import _keys_again as _keys
from proxycache._flags import NO_GIL
from proxycache._keys import _BOOL, _FALSE, _TRUE, UnkeyableError, freeze
from proxycache._keys_again import forget_frozen, freeze_again

from .test_keys import NOT_GIVEN, Shapes, nested

NAN = float("nan")
# Look-alikes meet often: equal numbers of other types, bytes and what marshal encodes as bytes.
leaves = st.sampled_from(
    [0, 1, 1.0, -0.0, 0.0, True, False, None, "1", "", b"1", bytearray(b"1"), memoryview(b"1"), NAN, 1 + 0j,
     2**70, "é", NOT_GIVEN, _BOOL]
)
hashable_leaves = st.sampled_from([0, 1, 1.0, True, None, "1", b"1", 2**70, NOT_GIVEN])
values = nested(leaves, hashable_leaves, st.sampled_from(["a", "b", 1, True]))


def outcome(freezer: Any, value: Any) -> tuple[str, Any]:
    try:
        return "key", freezer(value)
    except UnkeyableError:
        return "refused", None


@pytest.fixture(autouse=True)
def forgotten() -> None:
    forget_frozen()


@settings(max_examples=300, deadline=None)
@given(calls=st.lists(values, min_size=1, max_size=12))
def test_the_key_is_always_the_one_freeze_makes(calls: list[Any]) -> None:
    seen = []
    for value in calls * 3:  # first, second (remembered there) and third sightings, look-alikes between
        got = outcome(freeze_again, value)
        assert got == outcome(freeze, value), value
        seen.append((value, got))
    # Two values share a key exactly when freeze says they do.
    for a, (kind_a, key_a) in seen:
        for b, (kind_b, key_b) in seen:
            if kind_a == kind_b == "key":
                assert (key_a == key_b) == (freeze(a) == freeze(b)), (a, b)
    assert not wrongly_remembered()  # each key remembered is the key of what its bytes encode


@pytest.mark.parametrize(
    "look_alike",
    [bytearray(b"ab"), memoryview(b"ab"), array.array("b", b"ab")],
    ids=["bytearray", "memoryview", "array"],
)
def test_a_buffer_is_never_taken_for_the_bytes_marshal_encodes_it_as(look_alike: Any) -> None:
    shapes = Shapes()
    cache_methods(shapes, "describe")
    for _ in range(3):
        assert shapes.describe([b"ab"]) == ("list", "[b'ab']")
    assert marshal.dumps([look_alike], 2) == marshal.dumps([b"ab"], 2)  # what makes this a test
    expected = outcome(freeze, [look_alike])
    if expected[0] == "refused":  # unhashable buffers: refused as before, however often the bytes came
        with pytest.raises(TypeError, match="cannot be used in a cache key"):
            shapes.describe([look_alike])
        assert shapes.calls["describe"] == 1
    else:  # a memoryview of bytes hashes and compares as its bytes: one entry, as freeze has it
        assert expected[1] == freeze([b"ab"])
        assert shapes.describe([look_alike]) == ("list", "[b'ab']")
        assert shapes.calls["describe"] == 1


def test_an_argument_seen_again_gets_the_key_object_of_its_first_sighting() -> None:
    # The storage holds the first key made: later ones, the same object, are found without comparing contents.
    first = freeze_again({"messages": [{"role": "user", "content": "hi"}]})
    for _ in range(3):
        assert freeze_again({"messages": [{"role": "user", "content": "hi"}]}) is first
    assert freeze_again({"messages": [{"role": "user", "content": "hi!"}]}) is not first


def test_a_keyword_call_key_is_encoded_whole() -> None:
    # A (*args, **kwargs) method's key nests tuples: (args, ((name, value), ...)). Encoded whole, it is
    # one remembered object, as a dict argument's key is (part by part, a new tuple each call).
    def key() -> Any:
        return ((), (("messages", [{"role": "user", "content": "hi"}]), ("model", "m"), ("stream", False, None)))

    first = freeze_again(key())
    assert first == freeze(key())
    for _ in range(3):
        assert freeze_again(key()) is first


@pytest.mark.parametrize(
    "key",
    [
        ([1], _TRUE, "x"),  # a positional bool beside a list
        (_FALSE, {"a": 1}),
        (([1], _TRUE), ()),  # the same inside *args
        ((), (("a", [1]), ("b", NOT_GIVEN))),  # an object among **kwargs
        ([1], (_BOOL, True), "x"),  # tagged-bool look-alikes that no call makes: marshal refuses the marker
        ((_BOOL, [1]), (_BOOL, (_BOOL, True))),
        (_BOOL, True),
    ],
    ids=[
        "positional-bool", "bool-first", "bool-in-args", "object-in-kwargs", "look-alike", "look-alikes", "top-level",
    ],
)
def test_a_key_with_a_marker_or_an_object_is_frozen_part_by_part_as_freeze_does(key: Any) -> None:
    for _ in range(3):
        assert freeze_again(key) == freeze(key)
        assert type(freeze_again(key)) is type(freeze(key))
    assert _keys.remembered_key(key) == freeze(key)  # the hit's look, once each part is remembered


def test_a_tagged_boolean_is_taken_as_it_is() -> None:
    # Its own type keeps it from marshal (which would encode the list before it, then refuse the marker).
    for _ in range(3):
        assert freeze_again(([1], _TRUE, "x"))[1] is _TRUE


@pytest.mark.skipif(NO_GIL, reason="without the GIL, keys are never remembered: every such hit takes the miss path")
@pytest.mark.parametrize(
    "call",
    [
        lambda p: p.describe({"a": [1]}),
        lambda p: p.describe_many([1], x={"y": 2}, flag=True),  # **kwargs, a boolean among them
        lambda p: p.describe_many([1], True),  # a tagged positional bool: the key is taken part by part
        lambda p: p.describe_many({"a": 1}, c=NOT_GIVEN),  # an object among the parts
    ],
    ids=["dict", "kwargs", "positional-bool", "object"],
)
def test_an_argument_seen_again_is_found_without_the_miss_path(call: Any) -> None:
    # The hit path looks a key that did not hash up again by its remembered key (_codegen._FROZEN).
    shapes = Shapes()
    proxy = CachedProxy(shapes)
    first = call(proxy)
    call(proxy)  # remembered from this second sighting
    called: list[str] = []

    def profile(frame: Any, event: str, arg: Any) -> None:
        if event == "call" and "proxycache" in frame.f_code.co_filename:
            called.append(frame.f_code.co_name)

    sys.setprofile(profile)
    try:
        again = call(proxy)
    finally:
        sys.setprofile(None)
    assert again == first
    assert sum(shapes.calls.values()) == 1
    infos = cache_info(proxy).values()
    assert (sum(i.hits for i in infos), sum(i.misses for i in infos)) == (2, 1)  # each hit counted once
    assert "remembered_key" in called
    assert not {"_lean", "_slow", "_miss", "_frozen"} & set(called), called


def test_a_changed_argument_is_keyed_by_its_new_contents() -> None:
    proxy = CachedProxy(Shapes())
    numbers = {"a": [1, 2]}
    for _ in range(3):
        assert proxy.describe(numbers) == ("dict", "{'a': [1, 2]}")
    numbers["a"].append(3)
    assert proxy.describe(numbers) == ("dict", "{'a': [1, 2, 3]}")
    assert proxy.describe({"a": [1, 2]}) == ("dict", "{'a': [1, 2]}")
    assert proxy.describe.cache_info()[:2] == (3, 2)


def test_equal_dicts_in_another_order_and_equal_numbers_share_the_entry() -> None:
    shapes = Shapes()
    proxy = CachedProxy(shapes)
    for query in [{"a": 1, "b": [2]}] * 3 + [{"b": [2], "a": 1}, {"a": 1.0, "b": [2.0]}]:
        proxy.describe(query)
    assert shapes.calls["describe"] == 1
    for query in [{"a": True, "b": [2]}, {"a": 1, "b": (2,)}]:  # a bool is no int, a tuple no list
        proxy.describe(query)
    assert shapes.calls["describe"] == 3


def wrongly_remembered() -> list[tuple[bytes, Any]]:
    """The encodings remembered with a key not their value's (a snapshot: threads may be adding)."""
    return [
        (data, frozen)
        for data, frozen in list(_keys._REMEMBERED.items())
        if type(frozen) is not list and frozen is not _keys._NOT_PLAIN and frozen != freeze(marshal.loads(data))
    ]


@pytest.mark.skipif(NO_GIL, reason="without the GIL, keys are never remembered: marshal could read a list mid-change")
def test_threads_changing_an_argument_never_make_a_key_remembered_for_another_state() -> None:
    shared: dict[str, Any] = {"n": [0]}
    stop = threading.Event()
    wrong: list[Any] = []

    def change() -> None:
        changes = 0
        while not stop.is_set():
            changes += 1
            shared["n"] = [changes % 7]  # seven states, each met again and again
            if changes % 50 == 0:
                forget_frozen()  # so that states are seen a second time, and remembered, again and again

    def key() -> None:
        for _ in range(2000):
            freeze_again(shared)
            wrong.extend(wrongly_remembered())

    changer = threading.Thread(target=change)
    readers = [threading.Thread(target=key) for _ in range(3)]
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # threads switch between any two steps: the argument changes mid-call
    try:
        changer.start()
        for reader in readers:
            reader.start()
        for reader in readers:
            reader.join(60)
    finally:
        stop.set()
        changer.join(10)
        sys.setswitchinterval(interval)
    assert not wrong
    for n in range(7):
        for _ in range(3):
            assert freeze_again({"n": [n]}) == freeze({"n": [n]})


def test_what_is_remembered_stays_bounded() -> None:
    for i in range(3000):
        for _ in range(2):
            freeze_again([i, "x" * 1000])
        assert _keys._remembered_bytes <= _keys._REMEMBER_ALL
        assert sum(map(len, _keys._REMEMBERED)) <= _keys._REMEMBER_ALL
    large = ["y" * _keys._REMEMBER_ONE]
    forget_frozen()
    for _ in range(3):
        assert freeze_again(large) == freeze(large)
    assert not _keys._REMEMBERED


@pytest.mark.skipif(NO_GIL, reason="without the GIL, keys are never remembered: marshal could read a list mid-change")
def test_cache_clear_forgets_the_arguments() -> None:
    proxy = CachedProxy(Shapes())
    for _ in range(2):
        proxy.describe([{"role": "user", "content": "secret"}])
    assert any(b"secret" in data for data in _keys._REMEMBERED)
    proxy.describe.cache_clear()
    assert not _keys._REMEMBERED
