"""An event loop's pulse: whether the loop keeps running while a call awaits."""

from __future__ import annotations

import asyncio
from types import TracebackType


class Ticker:
    """A task that counts each time the loop lets it run (every *period* seconds) while the block runs.

    ``async with Ticker() as ticker: await call()`` then ``ticker.ticks``: a
    call that blocks the loop's thread leaves it near zero.
    """

    def __init__(self, period: float = 0.01) -> None:
        self.period = period
        self.ticks = 0
        self._task: asyncio.Task[None] | None = None

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(self.period)
            self.ticks += 1

    async def __aenter__(self) -> Ticker:
        self._task = asyncio.create_task(self._tick())
        await asyncio.sleep(0)  # started before the block
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> None:
        assert self._task is not None
        self._task.cancel()
