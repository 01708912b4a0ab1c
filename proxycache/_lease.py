"""A store lease as a lock: ``acquire``/``release``, renewed in the background while held.

The shape of dogpile's mutexes (and of ``threading.Lock``), so a flight can
take a thread lock, an asyncio primitive or a store lease alike. While held,
the lease is renewed every third of its *ttl* (a thread, or a task for
:class:`AsyncStoreLease`); if a renewal fails (the lease lapsed and someone
else took it, or the store is down), :attr:`lost` says so and the holder
should not count on being the only one computing.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from ._store_base import check_lease_ttl

T = TypeVar("T")


class StoreLease:
    """The lease on one store key, for one holder (sync)."""

    def __init__(self, store: Any, key: str, ttl: float) -> None:
        self.store = store
        self.key = key
        self.ttl = check_lease_ttl(ttl)
        self.token: str | None = None
        #: True once a renewal failed while the lease was held.
        self.lost = False
        self._stop = threading.Event()
        self._renewer: threading.Thread | None = None

    def __repr__(self) -> str:
        state = "held" if self.token is not None else "free"
        return f"<StoreLease {self.key!r} on {self.store!r}, {state}{', lost' if self.lost else ''}>"

    def acquire(self) -> bool:
        """Take the lease if nobody holds it; True if this holder now does. Store errors are raised."""
        if self.token is not None:
            raise RuntimeError(f"{self!r} is already held by this holder")
        token = self.store.acquire_lease(self.key, self.ttl)
        if token is None:
            return False
        self.token, self.lost = token, False
        self._stop = threading.Event()
        self._renewer = threading.Thread(target=self._renew, args=(token, self._stop), daemon=True)
        self._renewer.start()
        return True

    def release(self) -> bool:
        """Stop renewing and give the lease up; False if it had lapsed (or was never held)."""
        token, self.token = self.token, None
        self._stop.set()
        if token is None:
            return False
        return bool(self.store.release_lease(self.key, token))

    def __enter__(self) -> bool:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        if self.token is not None:
            self.release()

    def _renew(self, token: str, stop: threading.Event) -> None:
        while not stop.wait(self.ttl / 3):
            try:
                renewed = self.store.renew_lease(self.key, token, self.ttl)
            except Exception:
                renewed = False
            if not renewed:
                self.lost = True
                return


#: Tasks giving back a lease granted to a caller that was cancelled meanwhile (kept from the collector).
_giving_back: set[Any] = set()


async def asked(asking: Awaitable[T], give_back: Callable[[T], Awaitable[object]]) -> T:
    """The answer of *asking*, a store call that takes a lease.

    If the caller is cancelled while it waits, the store may grant the lease
    all the same (the request was sent, or the thread runs on): that lease,
    which nobody holds, is then given back with *give_back(answer)* as soon
    as the answer comes, rather than leave every caller of the key waiting
    for it to lapse.
    """
    import asyncio

    future = asyncio.ensure_future(asking)
    try:
        return await asyncio.shield(future)
    except asyncio.CancelledError:
        future.add_done_callback(lambda done: _give_back(done, give_back))
        raise


def _give_back(done: Any, give_back: Callable[[Any], Awaitable[object]]) -> None:
    if done.cancelled() or done.exception() is not None or not done.result():
        return  # not granted (or unknown: a failed store call takes no lease, or the lease lapses)
    task = done.get_loop().create_task(give_back(done.result()))
    _giving_back.add(task)
    task.add_done_callback(_given_back)


def _given_back(task: Any) -> None:
    _giving_back.discard(task)
    if not task.cancelled():
        task.exception()  # retrieved: a fault here has no caller left to tell, and the lease lapses


class AsyncStoreLease:
    """The lease on one store key, for one holder (coroutines; renewed by a task)."""

    def __init__(self, store: Any, key: str, ttl: float) -> None:
        self.store = store
        self.key = key
        self.ttl = check_lease_ttl(ttl)
        self.token: str | None = None
        #: True once a renewal failed while the lease was held.
        self.lost = False
        self._renewer: Any = None

    def __repr__(self) -> str:
        state = "held" if self.token is not None else "free"
        return f"<AsyncStoreLease {self.key!r} on {self.store!r}, {state}{', lost' if self.lost else ''}>"

    async def acquire(self) -> bool:
        """Take the lease if nobody holds it; True if this holder now does. Store errors are raised."""
        import asyncio

        if self.token is not None:
            raise RuntimeError(f"{self!r} is already held by this holder")
        token = await asked(
            self.store.aacquire_lease(self.key, self.ttl), lambda token: self.store.arelease_lease(self.key, token)
        )
        if token is None:
            return False
        self.token, self.lost = token, False
        self._renewer = asyncio.get_running_loop().create_task(self._renew(token))
        return True

    async def release(self) -> bool:
        """Stop renewing and give the lease up; False if it had lapsed (or was never held)."""
        token = self.stop()
        if token is None:
            return False
        return bool(await self.store.arelease_lease(self.key, token))

    def stop(self) -> str | None:
        """Stop renewing (no store call): the token to give the lease up with, or None if not held.

        From any thread: a thread that runs no loop may then give the lease
        up with the store's sync call, even once the lease's loop has ended
        (a stream's writer thread outlives ``asyncio.run()``).
        """
        import asyncio

        token, self.token = self.token, None
        renewer, self._renewer = self._renewer, None
        if renewer is not None:
            loop = renewer.get_loop()
            if loop is asyncio._get_running_loop():
                renewer.cancel()
            else:
                with contextlib.suppress(RuntimeError):  # a closed loop took its renewal task along
                    loop.call_soon_threadsafe(renewer.cancel)
        return token

    async def __aenter__(self) -> bool:
        return await self.acquire()

    async def __aexit__(self, *exc: object) -> None:
        if self.token is not None:
            await self.release()

    async def _renew(self, token: str) -> None:
        import asyncio

        while True:
            await asyncio.sleep(self.ttl / 3)
            try:
                renewed = await self.store.arenew_lease(self.key, token, self.ttl)
            except Exception:
                renewed = False
            if not renewed:
                self.lost = True
                return
