"""受取人名義の確認: who a transfer would reach, shown (masked) before the sender presses
送金する, so money does not go to a mistyped number.

This answers "is this number a resident's?" to a signed-in, verified resident, which the
transfer itself refuses to (docs/SECURITY.md, "Enumeration"): every look-up counts against
a daily allowance per account and per address (``machipay.ratelimits``), found or not, and
the answer is the masked name only, never the full name, phone or wallet.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from machipay.errors import NotFound, ValidationFailed
from wallet_api.models import Resident
from wallet_api.service import (
    recipient_phone,
    require_wallet_can_move_money,
    resident_who_can_receive,
)

# The same number of stars whatever the name's length: the mask must not hint at it.
_HIDDEN = "***"


class RecipientNotFound(NotFound):
    """A number nobody verified, a frozen and a closed wallet read the same: what cannot
    receive is not there."""

    type_slug = "recipient-not-found"
    title = "No resident with this phone number"


def mask_name(display_name: str) -> str:
    """The first character of each word and a fixed run of stars: 「山田 太郎」→「山*** 太***」.
    Enough for the sender to recognise a relative, too little to learn a stranger's name."""
    words = display_name.split()
    return " ".join(word[0] + _HIDDEN for word in words) if words else _HIDDEN


async def recipient_name(session: AsyncSession, *, sender_id: int, to_phone: str) -> str:
    """The masked name of the resident a transfer to ``to_phone`` would reach."""
    # Only a wallet that may send can ask: the look-up is part of sending.
    await require_wallet_can_move_money(session, sender_id)
    e164 = recipient_phone(to_phone)
    sender_phone = (
        await session.execute(select(Resident.phone).where(Resident.user_id == sender_id))
    ).scalar_one()
    if e164 == sender_phone:
        raise ValidationFailed("You cannot send money to yourself.", field="to_phone")
    recipient = await resident_who_can_receive(session, e164)
    if recipient is None:
        raise RecipientNotFound("No resident who can receive a transfer has this phone number.")
    return mask_name(recipient.display_name)
