"""Fixtures for a module that runs a stack of its own (its `stack` fixture): the same
`pool` and `js` as the session's, on that stack. Import them into the module."""

from __future__ import annotations

import pytest_asyncio

from readmodel.db import create_pool
from runtime.jetstream.connection import connect


@pytest_asyncio.fixture(scope="module", loop_scope="session", name="pool")
async def own_pool(stack):
    """A connection pool to the module's stack's database."""
    p = await create_pool(stack.settings.database.url or "")
    yield p
    await p.close()


@pytest_asyncio.fixture(scope="module", loop_scope="session", name="js")
async def own_js(stack):
    """JetStream on the module's stack's NATS (as its admin)."""
    nc = await connect(stack.settings, "tests")
    yield nc.jetstream()
    await nc.close()
