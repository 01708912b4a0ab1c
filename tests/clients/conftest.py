"""Fixtures for the real-SDK tests: a fake server on 127.0.0.1 and a real redis-server."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ..stores.conftest import _redis_session, redis_server  # noqa: F401  (fixtures)
from .fakeserver import FakeServer


@pytest.fixture
def server() -> Iterator[FakeServer]:
    srv = FakeServer().start()
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Dummy AWS settings: boto3 reads nothing from the user's own files or the network."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
