"""What a recorded stream is in the cache: a ``Recording`` of its items, and the ``Replay`` every hit gets.

A stored :class:`Recording` is never handed out itself: every hit gets a
fresh :class:`Replay` (or :class:`AsyncReplay`) of its items, which keeps the
protocol code that streams already uses: ``for``/``async for``, ``next()``,
``with``/``async with``, ``close()``/``aclose()``. Values only: the recorders
that make recordings are in ``_replay``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Iterator
from typing import Any

from ._flags import CODE_GLOBALS
from ._outcome import REPLAYED


class Recording:
    """The items of a stream consumed to its end: what the cache stores for it.

    Pickles as its items and whether the stream was async, so the items go
    through the store's serializer. :meth:`replay` gives a fresh iterator.
    """

    __slots__ = ("is_async", "items")

    def __init__(self, items: Iterable[Any], is_async: bool = False) -> None:
        self.items = tuple(items)
        self.is_async = bool(is_async)

    def replay(self) -> Replay | AsyncReplay:
        """A fresh iterator of the items: async when the recorded stream was."""
        return AsyncReplay(self.items) if self.is_async else Replay(self.items)

    def __reduce__(self) -> tuple[Any, ...]:
        return (Recording, (self.items, self.is_async))

    def __len__(self) -> int:
        return len(self.items)

    def __eq__(self, other: object) -> bool:
        return type(other) is Recording and other.is_async == self.is_async and other.items == self.items

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"<recorded {'async ' if self.is_async else ''}stream of {len(self.items)} items>"



# A pickled entry names the class by module: keep the name entries were written
# under before the class moved here, so that processes of the previous release
# sharing a store read the recordings of this one, and the other way round.
Recording.__module__ = "proxycache._replay"

# Loaded with streams="replay" (or a serializer): only then can a recording be found, and a hit replay it.
REPLAYED.add(Recording)
CODE_GLOBALS["_pc_Recording"] = Recording  # the global the generated hit of a replaying method names


class Replay(Iterator[Any]):
    """A replayed stream: iterate it, use it in ``with``, ``close()`` it, as the original."""

    __slots__ = ("_it", "_size")

    def __init__(self, items: tuple[Any, ...]) -> None:
        self._it = iter(items)
        self._size = len(items)

    def __iter__(self) -> Iterator[Any]:
        # The tuple's own iterator: a for loop runs at its speed, not through __next__.
        return self._it

    def __next__(self) -> Any:
        return next(self._it)

    def close(self) -> None:
        """Stop: later iteration ends at once, as after closing a generator."""
        self._it.__setstate__(self._size)  # type: ignore[attr-defined]  # a loop already running ends too

    def __enter__(self) -> Replay:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<replayed stream of {self._size} items>"


async def _items(items: tuple[Any, ...]) -> Any:
    for item in items:
        yield item


class AsyncReplay(AsyncIterator[Any]):
    """A replayed async stream: ``async for``, ``async with``, ``aclose()`` and openai's ``await close()``."""

    __slots__ = ("_gen", "_size")

    def __init__(self, items: tuple[Any, ...]) -> None:
        self._gen = _items(items)
        self._size = len(items)

    def __aiter__(self) -> AsyncIterator[Any]:
        # The generator itself: async for steps it directly, one call fewer per item.
        return self._gen  # type: ignore[no-any-return]

    def __anext__(self) -> Any:
        return self._gen.__anext__()

    async def aclose(self) -> None:
        """Stop: later iteration ends at once."""
        await self._gen.aclose()

    close = aclose  # openai's AsyncStream closes with ``await stream.close()``

    async def __aenter__(self) -> AsyncReplay:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        return f"<replayed async stream of {self._size} items>"
