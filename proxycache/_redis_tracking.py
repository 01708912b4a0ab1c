"""Redis client tracking for a store's front cache: other processes' writes evict front entries at once.

Broadcast mode over RESP2, which every Redis 6+ server and redis-py client
speak: one connection subscribes to ``__redis__:invalidate``; another turns
on ``CLIENT TRACKING ON REDIRECT <subscriber id> BCAST PREFIX <prefix>{``,
so the server publishes the name of every entry written or removed under the
store's prefix, by anyone. A daemon thread reads those messages and drops the
front entries of the key's namespace. While tracking is not established (the
server is down, too old, or the connection broke), the front is emptied and
its entries live at most ``front_ttl``, as without tracking.
"""

from __future__ import annotations

import logging
import threading
import time
import weakref
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from ._front import FrontCache

log = logging.getLogger("proxycache")

_CHANNEL = b"__redis__:invalidate"
#: Seconds between checks that the tracking connection is still alive.
_PING_EVERY = 1.0


class _Tracked(Protocol):
    """What the tracker reads of its store (a ``RedisStore``, which imports this module on first use)."""

    client: Any
    _open: str
    retry_after: float


class Tracker:
    """The listening thread of one store; it ends when the store is dropped or closed."""

    def __init__(self, store: _Tracked, front: FrontCache) -> None:
        pool = store.client.connection_pool
        self._pool = pool
        self._open = store._open.encode("utf-8", "surrogatepass")
        self._front = front
        self._store = weakref.ref(store)
        self._retry = max(store.retry_after, 0.05)
        self._stopped = threading.Event()
        #: Set once tracking has been established at least once (for tests and the docs' measurement).
        self.ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"proxycache tracking {store!r}", daemon=True)
        self._thread.start()

    def _connect(self) -> Any:
        # A connection of its own, outside the pool: tracking and subscriptions are per connection.
        # RESP2 whatever the client speaks (redis-py 8 defaults to RESP3): invalidations then arrive
        # as plain pub/sub messages, which every server since Redis 6 sends and this thread reads.
        # (redis-py's maintenance notifications need RESP3, so they stay off here.)
        pool: Any = self._pool
        settings = {k: v for k, v in pool.connection_kwargs.items() if not k.startswith("maint_notifications")}
        return pool.connection_class(**settings, protocol=2)

    def stop(self) -> None:
        self._stopped.set()

    def _alive(self) -> bool:
        return not self._stopped.is_set() and self._store() is not None

    def _run(self) -> None:
        while self._alive():
            listen = track = None
            try:
                listen, track = self._establish()
                self._listen(listen, track)
            except Exception as error:
                if _unsupported(error):
                    log.info("Redis client tracking is unavailable (%s); front entries live front_ttl", error)
                    self._lost()
                    return
                log.debug("Redis client tracking lost (%r); retrying", error)
            finally:
                self._lost()
                for conn in (listen, track):
                    if conn is not None:
                        conn.disconnect()
            self._stopped.wait(self._retry)

    def _establish(self) -> tuple[Any, Any]:
        listen = self._connect()
        listen.connect()
        listen.send_command("CLIENT", "ID")
        client_id = int(listen.read_response())
        listen.send_command("SUBSCRIBE", _CHANNEL)
        listen.read_response()
        track = self._connect()
        track.connect()
        track.send_command("CLIENT", "TRACKING", "ON", "REDIRECT", client_id, "BCAST", "PREFIX", self._open)
        reply = track.read_response()
        if reply not in (b"OK", "OK"):
            raise RuntimeError(f"CLIENT TRACKING answered {reply!r}")
        # Entries remembered before now may predate writes nobody told us about.
        self._front.invalidate(None)
        self._front.tracking = True
        self.ready.set()
        return listen, track

    def _listen(self, listen: Any, track: Any) -> None:
        pinged = time.monotonic()
        while self._alive():
            if listen.can_read(timeout=0.2):
                self._handle(listen.read_response())
            if time.monotonic() - pinged > _PING_EVERY:
                # Tracking lives on this connection: if it dropped, no invalidation would come.
                track.send_command("PING")
                track.read_response()
                pinged = time.monotonic()

    def _handle(self, message: Any) -> None:
        if not isinstance(message, list) or len(message) != 3 or message[0] != b"message":
            return
        if message[1] != _CHANNEL:
            return
        names = message[2]
        if names is None:  # the server was flushed
            self._front.invalidate(None)
            return
        cut = len(self._open)
        for name in names if isinstance(names, list) else [names]:
            if isinstance(name, bytes) and name.startswith(self._open) and name.endswith(b"}"):
                self._front.invalidate(name[cut:-1].decode("utf-8", "replace"))

    def _lost(self) -> None:
        if self._front.tracking:
            self._front.tracking = False
            self._front.invalidate(None)


def _unsupported(error: BaseException) -> bool:
    """The server refused tracking (too old, or an ACL forbids it): asking again would not help."""
    return any(cls.__name__ == "ResponseError" for cls in type(error).__mro__)
