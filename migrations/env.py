"""Alembic environment: one history, PostgreSQL only, run through the async engine."""

from __future__ import annotations

import asyncio
from typing import Literal

from alembic import context
from alembic.autogenerate.api import AutogenContext
from alembic_utils.pg_function import PGFunction
from alembic_utils.pg_trigger import PGTrigger
from alembic_utils.replaceable_entity import register_entities
from sqlalchemy.engine import Connection

from assembly.models import import_all_models
from machipay.db import Base, UTCDateTime, create_engine
from machipay.settings import get_settings
from machipay.sqlfiles import sql_entities
from migrations.owned_sql import owned_sql_folders

import_all_models()
target_metadata = Base.metadata

# Autogenerate compares every function and trigger file with the database: a changed file
# becomes op.replace_entity(...) with its full text, a new one op.create_entity(...), and a
# function or trigger in the database with no file op.drop_entity(...). Only these two kinds
# (alembic_utils would otherwise also diff grants, views, policies and extensions).
register_entities(sql_entities(owned_sql_folders()), entity_types=[PGFunction, PGTrigger])


def _render_item(type_: str, obj: object, autogen_context: AutogenContext) -> str | Literal[False]:
    # Migrations must not import our column types: render UTCDateTime as what it stores.
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        compare_type=True,
        render_item=_render_item,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_async() -> None:
    url = context.config.attributes.get("database_url") or get_settings().database_url
    settings = get_settings().model_copy(update={"database_url": url})
    engine = create_engine(settings)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_run)
            await connection.commit()
    finally:
        await engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline (--sql) migrations are not supported; run `machipay migrate`")
asyncio.run(_run_async())
