"""FastAPI dependencies shared by every context: the request's unit of work and the cache."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from machipay.cache import CacheBackend
from machipay.db import unit_of_work
from machipay.events import Broker
from machipay.settings import Settings


async def _request_session(request: Request) -> AsyncIterator[AsyncSession]:
    async with unit_of_work(request.app.state.sessionmaker, request.app.state.broker) as session:
        yield session


# Plain lookups are ``async def`` on purpose: FastAPI runs a ``def`` dependency in its
# thread pool, a thread hop per request for reading an attribute.
async def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def _broker(request: Request) -> Broker:
    broker: Broker = request.app.state.broker
    return broker


async def _cache(request: Request) -> CacheBackend:
    cache: CacheBackend = request.app.state.cache
    return cache


# scope="function": commit when the endpoint returns, *before* the response is sent, so a
# client never sees 201 for a payment whose commit then failed.
DbSession = Annotated[AsyncSession, Depends(_request_session, scope="function")]
AppSettings = Annotated[Settings, Depends(_settings)]
Cache = Annotated[CacheBackend, Depends(_cache)]
EventBroker = Annotated[Broker, Depends(_broker)]
