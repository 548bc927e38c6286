"""A shop's staff logins, managed by its owner: add, list, set a refund limit, remove.

Staff take payments at the till and refund up to their own limit (the platform's
``MACHIPAY_MERCHANT_STAFF_REFUND_LIMIT`` until the owner sets one); only the owner manages
staff. A removed login stops at once: it can no longer sign in and its sessions end, but
its user row stays (disabled) so the payments it took still name it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from identity import create_user, disable_user, users_of_merchant
from machipay.auth import Role
from machipay.cache import CacheBackend
from machipay.errors import Conflict, NotFound, ValidationFailed
from machipay.settings import Settings
from machipay.text import nfkc
from machipay.timeutil import utcnow
from merchant_api.models import StaffMember

# A shop's tills, not a directory: a bound so that one owner's script cannot create
# logins without end.
MAX_STAFF_PER_SHOP = 50


class StaffNotFound(NotFound):
    type_slug = "staff-not-found"
    title = "No such staff member at this shop"


class TooManyStaff(Conflict):
    type_slug = "too-many-staff"
    title = "This shop has as many staff logins as it may"


@dataclass(frozen=True, slots=True)
class StaffView:
    id: int
    username: str
    refund_limit: int
    refund_limit_is_default: bool
    added_at: datetime


def staff_username(typed: str) -> str:
    """Login names as sign-in reads them: NFKC (full-width letters become ASCII), trimmed,
    lowercase."""
    return nfkc(typed).strip().lower()


def _check_limit(settings: Settings, refund_limit: int | None) -> None:
    # The most a single refund can be is a payment: a higher limit would mean nothing.
    if refund_limit is not None and not 0 <= refund_limit <= settings.max_payment:
        raise ValidationFailed(
            f"refund_limit is 0 to {settings.max_payment:,} yen.", field="refund_limit"
        )


def _view(
    user_id: int, username: str, row: StaffMember | None, settings: Settings, created_at: datetime
) -> StaffView:
    own = row.refund_limit if row is not None else None
    return StaffView(
        id=user_id,
        username=username,
        refund_limit=settings.merchant_staff_refund_limit if own is None else own,
        refund_limit_is_default=own is None,
        added_at=row.added_at if row is not None else created_at,
    )


async def _rows(session: AsyncSession, merchant_id: int) -> dict[int, StaffMember]:
    found = await session.execute(
        select(StaffMember).where(
            StaffMember.merchant_id == merchant_id, StaffMember.removed_at.is_(None)
        )
    )
    return {row.user_id: row for row in found.scalars()}


async def list_staff(
    session: AsyncSession, settings: Settings, merchant_id: int
) -> list[StaffView]:
    """The shop's active staff logins (those the CLI created too), oldest first."""
    rows = await _rows(session, merchant_id)
    return [
        _view(user.id, user.username, rows.get(user.id), settings, user.created_at)
        for user in await users_of_merchant(session, merchant_id, Role.MERCHANT_STAFF)
    ]


async def _staff_of_shop(session: AsyncSession, merchant_id: int, staff_id: int) -> tuple[int, str]:
    for user in await users_of_merchant(session, merchant_id, Role.MERCHANT_STAFF):
        if user.id == staff_id:
            return user.id, user.username
    # Another shop's staff, an owner, a removed login: none of them is this shop's to manage.
    raise StaffNotFound(f"No staff member {staff_id} at this shop.")


async def add_staff(
    session: AsyncSession,
    settings: Settings,
    *,
    merchant_id: int,
    owner_id: int,
    username: str,
    password: str,
    refund_limit: int | None,
) -> StaffView:
    _check_limit(settings, refund_limit)
    if (
        len(await users_of_merchant(session, merchant_id, Role.MERCHANT_STAFF))
        >= MAX_STAFF_PER_SHOP
    ):
        raise TooManyStaff(f"A shop has at most {MAX_STAFF_PER_SHOP} staff logins.")
    user = await create_user(
        session,
        username=staff_username(username),
        password=password,
        role=Role.MERCHANT_STAFF,
        merchant_id=merchant_id,
    )
    row = StaffMember(
        user_id=user.id,
        merchant_id=merchant_id,
        refund_limit=refund_limit,
        added_by=owner_id,
        added_at=utcnow(),
    )
    session.add(row)
    await session.flush()
    return _view(user.id, user.username, row, settings, user.created_at)


async def set_refund_limit(
    session: AsyncSession,
    settings: Settings,
    *,
    merchant_id: int,
    owner_id: int,
    staff_id: int,
    refund_limit: int | None,
) -> StaffView:
    """A staff member's own limit; None: back to the platform's default."""
    _check_limit(settings, refund_limit)
    user_id, username = await _staff_of_shop(session, merchant_id, staff_id)
    row = await session.get(StaffMember, user_id, with_for_update=True)
    if row is None:  # a login the CLI created: it gets its row now
        row = StaffMember(
            user_id=user_id, merchant_id=merchant_id, added_by=None, added_at=utcnow()
        )
        session.add(row)
    row.refund_limit = refund_limit
    await session.flush()
    return _view(user_id, username, row, settings, row.added_at)


async def remove_staff(
    session: AsyncSession,
    cache: CacheBackend,
    settings: Settings,
    *,
    merchant_id: int,
    owner_id: int,
    staff_id: int,
) -> None:
    user_id, _ = await _staff_of_shop(session, merchant_id, staff_id)
    now = utcnow()
    row = await session.get(StaffMember, user_id, with_for_update=True)
    if row is None:
        row = StaffMember(user_id=user_id, merchant_id=merchant_id, added_at=now)
        session.add(row)
    row.removed_at, row.removed_by = now, owner_id
    await disable_user(session, cache, settings, user_id)
    await session.flush()


async def staff_refund_limit(session: AsyncSession, settings: Settings, user_id: int) -> int:
    """The most this staff member may refund at a time."""
    own = (
        await session.execute(
            select(StaffMember.refund_limit).where(StaffMember.user_id == user_id)
        )
    ).scalar_one_or_none()
    return settings.merchant_staff_refund_limit if own is None else int(own)
