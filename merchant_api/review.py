"""An officer's review of a shop's application: the whole application (bank and owner
included) and a refusal with a reason the applicant reads. Approval is ``service.approve``
(two people); a refusal is one officer's: it opens nothing and moves no money."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from identity import usernames, users_of_merchant
from machipay.auth import Role
from machipay.errors import Conflict
from machipay.timeutil import utcnow
from merchant_api.models import Merchant
from merchant_api.service import MerchantNotFound, merchant_for_update


class MerchantNotPending(Conflict):
    type_slug = "merchant-not-pending"
    title = "Only a pending application can be refused"


@dataclass(frozen=True, slots=True)
class Application:
    """A shop's application as an officer reviews it."""

    merchant: Merchant
    owner_username: str | None
    owner_phone: str | None
    # Login names of the staff who acted on it, by user id.
    staff_names: dict[int, str]


async def reject(
    session: AsyncSession, merchant_id: int, *, officer_id: int, reason: str
) -> Merchant:
    """Refuse a pending application; who, when and why are kept, and the applicant reads
    the reason. The shop never opens (its owner may still sign in to read why)."""
    merchant = await merchant_for_update(session, merchant_id)
    if merchant.status != "pending":
        raise MerchantNotPending(f"Merchant {merchant_id} is {merchant.status}, not pending.")
    merchant.status = "rejected"
    merchant.rejection_reason = reason
    merchant.rejected_by = officer_id
    merchant.rejected_at = utcnow()
    await session.flush()
    return merchant


async def application(session: AsyncSession, merchant_id: int) -> Application:
    merchant = await session.get(Merchant, merchant_id)
    if merchant is None:
        raise MerchantNotFound(f"No merchant {merchant_id}.")
    owners = await users_of_merchant(session, merchant_id, Role.MERCHANT_OWNER)
    owner = owners[0] if owners else None
    actors = {
        i
        for i in (
            merchant.first_approved_by,
            merchant.approved_by,
            merchant.rejected_by,
            merchant.imported_by,
        )
        if i is not None
    }
    return Application(
        merchant,
        owner.username if owner else None,
        owner.phone if owner else None,
        await usernames(session, actors),
    )
