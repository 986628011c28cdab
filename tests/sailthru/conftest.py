"""Fixtures for the client's tests: a fake clock whose sleep advances it, and client factories."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from scripted_servers import API_KEY, SECRET, FakeClock

from runner.sailthru.client import RetryConfig, SailthruClient
from runner.sailthru.ratelimit import RateLimitBudget


@pytest.fixture
def fake_clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def make_client(fake_clock: FakeClock) -> Iterator[Callable[..., SailthruClient]]:
    """``make_client(url, **overrides)``: a client on the fake clock with its own budget."""
    clients: list[SailthruClient] = []

    def make(url: str, **overrides: object) -> SailthruClient:
        options: dict[str, object] = {
            "retry": RetryConfig(attempts=4, initial=1.0, max=8.0),
            "budget": RateLimitBudget(jitter=0.0),
            "sleep": fake_clock.sleep,
            "clock": fake_clock,
            "connect_timeout": 2.0,
            "read_timeout": 5.0,
        }
        options.update(overrides)
        client = SailthruClient(API_KEY, SECRET, url, **options)  # type: ignore[arg-type]
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()
