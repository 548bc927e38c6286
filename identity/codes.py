"""Six-digit codes sent by SMS: phone verification and password reset.

A code is short-lived (``MACHIPAY_PHONE_CODE_TTL_SECONDS``), single use, burnt after
``MACHIPAY_PHONE_CODE_MAX_ATTEMPTS`` wrong tries, replaced by the next one issued for the
same account and purpose, and stored only as an HMAC keyed with the secret key: six digits
are a million guesses, which no password hash would make slow enough, while without the key
the stored hash is useless. Comparison is constant-time; typed codes are NFKC-normalised, so
full-width digits from an IME work.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import timedelta
from typing import Literal

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from identity.models import PhoneCode
from machipay.errors import ValidationFailed
from machipay.settings import Settings
from machipay.text import nfkc_digits
from machipay.timeutil import utcnow

Purpose = Literal["verify", "reset"]
CODE_DIGITS = 6


class CodeRefused(ValidationFailed):
    """One answer for a wrong, expired, used or burnt code and for an account that has none:
    which of them it is would tell a stranger whether the number or username exists."""

    type_slug = "code-invalid"
    title = "The code is wrong, expired or already used"
    keep_changes = True  # a wrong try must count even though the request fails


def _digest(settings: Settings, purpose: str, user_id: int, code: str) -> str:
    message = f"phone-code:{purpose}:{user_id}:{code}".encode()
    return hmac.new(settings.secret_key.encode(), message, hashlib.sha256).hexdigest()


async def issue_code(
    session: AsyncSession, settings: Settings, user_id: int, purpose: Purpose
) -> str:
    """A new code for this account and purpose; earlier ones stop working."""
    now = utcnow()
    await session.execute(
        update(PhoneCode)
        .where(
            PhoneCode.user_id == user_id,
            PhoneCode.purpose == purpose,
            PhoneCode.used_at.is_(None),
        )
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    code = f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"
    session.add(
        PhoneCode(
            user_id=user_id,
            purpose=purpose,
            code_hash=_digest(settings, purpose, user_id, code),
            attempts=0,
            created_at=now,
            expires_at=now + timedelta(seconds=settings.phone_code_ttl_seconds),
        )
    )
    await session.flush()
    return code


async def redeem_code(
    session: AsyncSession,
    settings: Settings,
    user_id: int | None,
    purpose: Purpose,
    typed: str,
) -> None:
    """Use the account's live code, or raise :class:`CodeRefused` (also when ``user_id`` is
    None: the caller found no account that may have one)."""
    code = nfkc_digits(typed)
    now = utcnow()
    live = None
    if user_id is not None:
        live = (
            await session.execute(
                select(PhoneCode)
                .where(
                    PhoneCode.user_id == user_id,
                    PhoneCode.purpose == purpose,
                    PhoneCode.used_at.is_(None),
                    PhoneCode.expires_at > now,
                )
                .order_by(PhoneCode.id.desc())
                .limit(1)
                .with_for_update()
            )
        ).scalar_one_or_none()
    expected = live.code_hash if live is not None else "0" * 64
    given = _digest(settings, purpose, user_id or 0, code)
    if live is not None and hmac.compare_digest(expected, given):
        live.used_at = now
        await session.flush()
        return
    if live is not None:
        live.attempts += 1
        if live.attempts >= settings.phone_code_max_attempts:
            live.used_at = now
        await session.flush()
    raise CodeRefused("The code is wrong, has expired or was already used; ask for a new one.")
