"""Sign-in, token rotation with reuse detection, and staff accounts."""

from __future__ import annotations

import re
import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from identity import lockout
from identity.models import RefreshToken, User
from identity.sessions import end_all_sessions, end_sessions
from machipay.auth.ended_sessions import session_ended
from machipay.auth.passwords import hash_password, password_problems, verify_password
from machipay.auth.roles import STAFF_ROLES, Role
from machipay.auth.tokens import (
    hash_refresh_token,
    issue_access_token,
    new_refresh_token,
)
from machipay.cache import CacheBackend, RateLimit
from machipay.errors import Conflict, Unauthorized, ValidationFailed
from machipay.phone import normalize_phone
from machipay.settings import Settings
from machipay.text import nfkc, nfkc_digits
from machipay.timeutil import utcnow

STAFF_USERNAME = re.compile(r"[a-z0-9][a-z0-9_.-]{2,63}")


class RefreshTokenReused(Unauthorized):
    type_slug = "refresh-token-reused"
    title = "Refresh token reused"
    keep_changes = True  # the family's revocation must survive the refusal


class InvalidCredentials(Unauthorized):
    type_slug = "invalid-credentials"
    title = "Invalid username or password"


@dataclass(frozen=True, slots=True)
class TokenPair:
    access_token: str
    refresh_token: str
    expires_in: int


def login_name(username: str) -> str:
    """Residents sign in with their phone number in any common notation and width."""
    candidate = nfkc(username).strip()
    if nfkc_digits(candidate)[:1] in "+0" and sum(ch.isdigit() for ch in candidate) >= 10:
        try:
            return normalize_phone(candidate)
        except ValueError:
            return candidate
    return candidate.lower()


def ip_limit(settings: Settings) -> RateLimit:
    return RateLimit("auth-ip", settings.requests_per_ip_per_minute)


async def authenticate(
    session: AsyncSession,
    cache: CacheBackend,
    settings: Settings,
    *,
    username: str,
    password: str,
    ip: str,
) -> TokenPair:
    await ip_limit(settings).hit(cache, ip)
    name = login_name(username)
    await lockout.refuse_if_locked(cache, name, ip)
    user = (await session.execute(select(User).where(User.username == name))).scalar_one_or_none()
    if not verify_password(user.password_hash if user else None, password) or user is None:
        await lockout.record_failure(cache, settings, name, ip)
        raise InvalidCredentials("The username or password is not right.")
    await lockout.record_success(cache, name, ip)
    if user.status != "active":
        raise InvalidCredentials("This account is disabled.")
    return await _issue_pair(session, settings, user, family_id=uuid.uuid4().hex)


async def _issue_pair(
    session: AsyncSession, settings: Settings, user: User, *, family_id: str
) -> TokenPair:
    access, _ = issue_access_token(
        settings.secret_key,
        user_id=user.id,
        role=user.role,
        ttl_seconds=settings.access_token_ttl_seconds,
        session_id=family_id,
        merchant_id=user.merchant_id,
    )
    refresh, refresh_hash = new_refresh_token()
    now = utcnow()
    session.add(
        RefreshToken(
            token_hash=refresh_hash,
            family_id=family_id,
            user_id=user.id,
            issued_at=now,
            expires_at=now + timedelta(seconds=settings.refresh_token_ttl_seconds),
        )
    )
    await session.flush()
    return TokenPair(access, refresh, settings.access_token_ttl_seconds)


async def rotate_refresh_token(
    session: AsyncSession, cache: CacheBackend, settings: Settings, token: str
) -> TokenPair:
    """Trade a refresh token for a new pair. A token used twice ends its whole session:
    one of the two users of it is a thief, and we cannot tell which."""
    now = utcnow()
    token_hash = hash_refresh_token(token)
    claimed = (
        await session.execute(
            update(RefreshToken)
            .where(
                RefreshToken.token_hash == token_hash,
                RefreshToken.used_at.is_(None),
                RefreshToken.revoked_at.is_(None),
                RefreshToken.expires_at > now,
            )
            .values(used_at=now)
            .returning(RefreshToken.family_id, RefreshToken.user_id)
            .execution_options(synchronize_session=False)
        )
    ).one_or_none()
    if claimed is None:
        known = (
            await session.execute(
                select(RefreshToken.family_id, RefreshToken.used_at).where(
                    RefreshToken.token_hash == token_hash
                )
            )
        ).one_or_none()
        if known is not None and known.used_at is not None:
            await end_sessions(session, cache, settings, {known.family_id})
            raise RefreshTokenReused(
                "This refresh token was already used; every session it began is now closed."
            )
        raise Unauthorized("The refresh token is invalid, expired or revoked.")
    if await session_ended(cache, claimed.family_id):
        raise Unauthorized("The refresh token is invalid, expired or revoked.")
    user = (await session.execute(select(User).where(User.id == claimed.user_id))).scalar_one()
    if user.status != "active":
        raise Unauthorized("This account is disabled.")
    return await _issue_pair(session, settings, user, family_id=claimed.family_id)


async def create_user(
    session: AsyncSession,
    *,
    username: str,
    password: str,
    role: Role,
    merchant_id: int | None = None,
    phone: str | None = None,
) -> User:
    """Create a user of any role (residents register through the wallet; staff through the CLI)."""
    if role in STAFF_ROLES and not STAFF_USERNAME.fullmatch(username):
        raise ValidationFailed(
            "A staff username is 3 to 64 lowercase letters, digits, '.', '_' or '-'."
        )
    problems = password_problems(password, username=username)
    if problems:
        raise ValidationFailed(
            "The password must be " + "; ".join(problems) + ".", field="password"
        )
    user = User(
        username=username,
        password_hash=hash_password(password),
        role=role.value,
        status="active",
        merchant_id=merchant_id,
        created_at=utcnow(),
        phone=phone,
    )
    session.add(user)
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError as exc:
        raise Conflict(f"The username {username!r} is already taken.") from exc
    return user


async def create_users_bulk(
    session: AsyncSession,
    users: Sequence[tuple[str, Role, int | None]],
    *,
    password_hash: str,
    phones: Sequence[str | None] | None = None,
) -> list[int]:
    """Insert many users at once, all with one password hash: synthetic wards for load
    tests and demos (hashing a hundred thousand passwords with argon2 would take hours),
    and imported shops' owners (who set their own password by a code sent to ``phones``).
    Usernames are taken as given; returns the new ids in the order given."""
    if not users:
        return []
    now = utcnow()
    rows = [
        {
            "username": username,
            "password_hash": password_hash,
            "role": role.value,
            "status": "active",
            "merchant_id": merchant_id,
            "created_at": now,
            "phone": phones[index] if phones is not None else None,
        }
        for index, (username, role, merchant_id) in enumerate(users)
    ]
    result = await session.execute(
        insert(User).returning(User.id, sort_by_parameter_order=True), rows
    )
    return [int(i) for i in result.scalars()]


def valid_staff_username(username: str) -> bool:
    """3 to 64 lowercase letters, digits, '.', '_' or '-', as every staff login."""
    return STAFF_USERNAME.fullmatch(username) is not None


async def taken_usernames(session: AsyncSession, names: Collection[str]) -> set[str]:
    """Which of these login names an account already has."""
    if not names:
        return set()
    rows = await session.execute(select(User.username).where(User.username.in_(list(names))))
    return {str(n) for n in rows.scalars()}


async def user_by_id(session: AsyncSession, user_id: int) -> User:
    user = await session.get(User, user_id)
    if user is None:
        raise Unauthorized("This account no longer exists.")
    return user


async def usernames(session: AsyncSession, user_ids: Collection[int]) -> dict[int, str]:
    """Login names by user id (audit trails show who, not a number)."""
    if not user_ids:
        return {}
    rows = await session.execute(select(User.id, User.username).where(User.id.in_(user_ids)))
    return {int(i): str(name) for i, name in rows}


async def users_of_merchant(session: AsyncSession, merchant_id: int, role: Role) -> list[User]:
    """A shop's active logins of one role, oldest first."""
    return list(
        (
            await session.execute(
                select(User)
                .where(
                    User.merchant_id == merchant_id,
                    User.role == role.value,
                    User.status == "active",
                )
                .order_by(User.id)
            )
        ).scalars()
    )


async def disable_user(
    session: AsyncSession, cache: CacheBackend, settings: Settings, user_id: int
) -> None:
    """Stop a login at once: it cannot sign in again (its name stays taken, so earlier
    records that name it keep meaning one person) and every session it has ends now."""
    await session.execute(
        update(User)
        .where(User.id == user_id)
        .values(status="disabled")
        .execution_options(synchronize_session=False)
    )
    await end_all_sessions(session, cache, settings, user_id)


async def close_user(
    session: AsyncSession, cache: CacheBackend, settings: Settings, user_id: int
) -> None:
    """End an account for good: every session ends now, it can never sign in again, and
    its login name is given back (a resident's is their phone number, which a new
    registration may then take)."""
    await session.execute(
        update(User)
        .where(User.id == user_id)
        .values(status="closed", username=f"closed.{user_id}")
        .execution_options(synchronize_session=False)
    )
    await end_all_sessions(session, cache, settings, user_id)
