"""Getting back into an account: a password reset by a code sent to the account's phone,
and a shop owner setting their staff's passwords.

Only residents (their username is their phone) and shop owners (the phone they gave when
applying) can reset by SMS. Shop staff ask their owner; ward and operator logins
(officer, approver, analyst, operator, ...) are not recoverable by SMS at all: an operator
sets a new password with ``machipay users``, so a stolen SIM never opens a ward account.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from identity.codes import issue_code, redeem_code
from identity.models import User
from identity.service import ip_limit, login_name
from identity.sessions import end_all_sessions
from machipay.auth.passwords import hash_password, password_problems
from machipay.auth.roles import Role
from machipay.cache import CacheBackend, RateLimit, enforce
from machipay.errors import NotFound, ValidationFailed
from machipay.settings import Settings
from machipay.sms import within_sms_allowance

RECOVERABLE_BY_SMS = frozenset({Role.RESIDENT.value, Role.MERCHANT_OWNER.value})


@dataclass(frozen=True, slots=True)
class Sms:
    to: str
    text: str


def reset_text(code: str, settings: Settings) -> str:
    minutes = settings.phone_code_ttl_seconds // 60
    return (
        f"【マチペイ】パスワード再設定コード: {code}（{minutes}分間有効）。"
        "心当たりがない場合はこのメッセージを無視してください。"
    )


def _recovery_phone(user: User) -> str | None:
    if user.status != "active" or user.role not in RECOVERABLE_BY_SMS:
        return None
    return user.username if user.role == Role.RESIDENT.value else user.phone


async def request_password_reset(
    session: AsyncSession, cache: CacheBackend, settings: Settings, *, username: str, ip: str
) -> Sms | None:
    """The SMS to send (after the response), or None. The caller answers 202 either way.

    Both limits count before the look-up, so a refusal (429) says nothing about the name."""
    name = login_name(username)
    await ip_limit(settings).hit(cache, ip)
    per_name = RateLimit(
        "password-reset-user", settings.password_resets_per_username_per_hour, 3_600
    )
    await enforce(cache, (per_name, name))
    user = (await session.execute(select(User).where(User.username == name))).scalar_one_or_none()
    phone = _recovery_phone(user) if user is not None else None
    # Beyond the phone's allowance the earlier code stays the live one (a new code would
    # void it without reaching the phone).
    if user is None or phone is None or not await within_sms_allowance(cache, settings, phone):
        return None
    code = await issue_code(session, settings, user.id, "reset")
    return Sms(phone, reset_text(code, settings))


def _check_new_password(password: str, username: str) -> None:
    problems = password_problems(password, username=username)
    if problems:
        raise ValidationFailed(
            "The password must be " + "; ".join(problems) + ".", field="new_password"
        )


async def confirm_password_reset(
    session: AsyncSession,
    cache: CacheBackend,
    settings: Settings,
    *,
    username: str,
    code: str,
    new_password: str,
    ip: str,
) -> None:
    """Set the new password if the code is right, and end every session of the account: a
    reset usually means someone else may hold the old password."""
    await ip_limit(settings).hit(cache, ip)
    name = login_name(username)
    _check_new_password(new_password, name)
    user = (await session.execute(select(User).where(User.username == name))).scalar_one_or_none()
    eligible = user is not None and _recovery_phone(user) is not None
    await redeem_code(session, settings, user.id if user and eligible else None, "reset", code)
    assert user is not None  # redeem_code refuses when there is no eligible account
    user.password_hash = hash_password(new_password)
    await end_all_sessions(session, cache, settings, user.id)


async def set_staff_password(
    session: AsyncSession,
    cache: CacheBackend,
    settings: Settings,
    *,
    merchant_id: int,
    staff_id: int,
    new_password: str,
) -> None:
    """A shop owner gives their staff member a new password; the staff's sessions end.
    Anyone else's account (another shop's staff, a removed login, the owner, a resident)
    is 404."""
    staff = (
        await session.execute(
            select(User).where(
                User.id == staff_id,
                User.merchant_id == merchant_id,
                User.role == Role.MERCHANT_STAFF.value,
                User.status == "active",
            )
        )
    ).scalar_one_or_none()
    if staff is None:
        raise NotFound("No such member of this shop's staff.")
    _check_new_password(new_password, staff.username)
    staff.password_hash = hash_password(new_password)
    await end_all_sessions(session, cache, settings, staff.id)


async def reserve_user_id(session: AsyncSession) -> int:
    """An id from the users' sequence that no account will have: the answer to a
    registration that created nothing reads like one that did."""
    next_id = text("SELECT nextval(pg_get_serial_sequence('users', 'id'))")
    return int((await session.execute(next_id)).scalar_one())
