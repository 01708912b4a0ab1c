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
from typing import Any

from ._store_base import check_lease_ttl


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
        token = await self.store.aacquire_lease(self.key, self.ttl)
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
