"""Shared fixtures. Area-specific fixtures live beside their tests."""

from __future__ import annotations

from typing import Any

import pytest


class CountingClient:
    """A client nobody here 'owns': counts every real call."""

    def __init__(self, base: str = "https://api.example") -> None:
        self.base = base
        self.calls: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = []

    def get(self, item: Any, page: int = 1) -> tuple[Any, int]:
        self.calls.append(("get", (item, page), {}))
        return (item, page)

    def echo(self, value: Any) -> Any:
        self.calls.append(("echo", (value,), {}))
        return value

    def nothing(self) -> None:
        self.calls.append(("nothing", (), {}))
        return None

    def fail(self, value: Any) -> Any:
        self.calls.append(("fail", (value,), {}))
        raise ValueError(value)

    async def aget(self, item: Any) -> Any:
        self.calls.append(("aget", (item,), {}))
        return item

    @property
    def name(self) -> str:
        return "counting"

    def count(self, method: str) -> int:
        return sum(1 for c in self.calls if c[0] == method)


@pytest.fixture
def client() -> CountingClient:
    return CountingClient()
