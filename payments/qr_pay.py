"""Paying by QR: a shop's sticker (static: the resident types the amount) or a dynamic
code for one charge (its amount is fixed).

Resolving shows the resident whom they pay before they confirm; paying reads the shop again
in its first call (with the key's claim and the payer's lock), locks the charge if there is
one, and pays.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import BigInteger, Boolean, String, bindparam, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession

from ledger import resident_money
from machipay.db import UTCDateTime
from machipay.errors import MachipayError, ValidationFailed
from machipay.hotsql import HotStatement
from machipay.idempotency import StoredResponse, replay_of, run_idempotent
from machipay.settings import Settings
from machipay.timeutil import utcnow
from merchant_api import (
    MerchantView,
    ParsedQr,
    ScannedShop,
    parse_shop_qr,
    resolve_shop_qr,
    scanned_shop,
)
from payments.charges import mark_charge_paid, open_charge
from payments.models import Charge
from payments.rewards import CampaignRewards, no_campaign_rewards
from payments.service import (
    LockedPayer,
    PaymentAsk,
    PaymentClaim,
    PaymentDone,
    pay,
    pay_many,
    rehearse_record_batch,
)
from wallet_api import wallet_lock_refusals


@dataclass(frozen=True, slots=True)
class ResolvedQr:
    parsed: ParsedQr
    charge: Charge | None
    view: MerchantView  # what the resident sees, and what a campaign looks at


async def resolve_qr(
    session: AsyncSession,
    settings: Settings,
    payload: str,
    *,
    now: datetime | None = None,
) -> ResolvedQr:
    """Who a scanned code pays, and for a dynamic code the open charge it names."""
    scanned = await resolve_shop_qr(session, settings, payload)
    charge = None
    if scanned.parsed.dynamic:
        charge = await open_charge(session, scanned.parsed, scanned.view.id, lock=False, now=now)
    return ResolvedQr(scanned.parsed, charge, scanned.view)


def amount_to_pay(charge: Charge | None, amount: int | None) -> int:
    """A dynamic code fixes the amount (the resident may send it again, or nothing); a
    sticker needs the resident's own."""
    if charge is not None:
        if amount is not None and amount != charge.amount:
            raise ValidationFailed(
                "This code is for a fixed amount; omit amount or send that amount.",
                field="amount",
            )
        return charge.amount
    if amount is None:
        raise ValidationFailed("Enter the amount to pay this shop.", field="amount")
    return amount


# The claim, the shop and the payer's lock in one round trip (payments/sql/payment_open.sql).
_OPEN = HotStatement(
    text(
        "SELECT record_id, stored_hash, stored_status, stored_body, merchant_id, merchant_name,"
        " shopping_street_id, category, store_type, merchant_status, street_name, district_id,"
        " lot_ids, lot_remaining FROM payment_open(:scope, :key, :request_hash, :created_at,"
        " :public_id, :resident, :now)"
    ).bindparams(
        bindparam("created_at", type_=UTCDateTime),
        bindparam("now", type_=UTCDateTime),
        bindparam("resident", type_=BigInteger()),
    )
)


async def open_qr_payment(
    session: AsyncSession,
    settings: Settings,
    *,
    resident_id: int,
    payload: str,
    claim: PaymentClaim,
) -> tuple[ScannedShop, LockedPayer]:
    """The payment's first call: claim the key (a replay stops here), read the shop the code
    names (refused if it cannot take payments) and lock the payer with their live lots."""
    parsed = parse_shop_qr(settings, payload)
    now = utcnow()
    with wallet_lock_refusals():
        found = await _OPEN.row(
            session,
            {
                **claim.request.claim_arguments(),
                "public_id": parsed.merchant_public_id,
                "resident": resident_id,
                "now": now,
            },
        )
    assert found is not None
    claim.request.claimed(found[:4])
    scanned = scanned_shop(parsed, found[4:12])
    # The lots as wallet_lock_lots returned them, in two arrays (lot ids, remaining).
    return scanned, LockedPayer(now, list(zip(found[12], found[13], strict=True)))


async def pay_by_qr(
    session: AsyncSession,
    settings: Settings,
    *,
    resident_id: int,
    payload: str,
    amount: int | None,
    claim: PaymentClaim,
    rewards: CampaignRewards = no_campaign_rewards,
    use_points: bool = True,
) -> PaymentDone:
    """Pay the shop a scanned code names: points first (oldest expiry first, unless the
    resident keeps them), then money. The resident's Idempotency-Key is claimed by the first
    call and answered by the last (``claim``)."""
    scanned, locked = await open_qr_payment(
        session, settings, resident_id=resident_id, payload=payload, claim=claim
    )
    charge = None
    if scanned.parsed.dynamic:
        # After the payer's lock, as every path that takes both takes them.
        charge = await open_charge(session, scanned.parsed, scanned.view.id, lock=True)
    done = await pay(
        session,
        settings,
        resident_id=resident_id,
        merchant=scanned.view,
        amount=amount_to_pay(charge, amount),
        method="dynamic" if charge else "static",
        idempotency_key=claim.request.key,
        charge_id=charge.id if charge else None,
        charge_reference=charge.reference if charge else None,
        # A dynamic code is the till's: whoever showed it took the payment.
        taken_by=charge.created_by if charge else None,
        rewards=rewards,
        use_points=use_points,
        locked=locked,
        claim=claim,
    )
    if charge is not None:
        await mark_charge_paid(session, charge, done.payment.id)
    return done


async def pay_qr_idempotently(
    session: AsyncSession,
    settings: Settings,
    payment: QrPayment,
    *,
    rewards: CampaignRewards = no_campaign_rewards,
) -> StoredResponse:
    """A resident's QR payment under their Idempotency-Key, on its own: the key is claimed by
    the payment's first call and answered by its last; a refusal is stored as the key's
    answer (and raised)."""

    async def produce() -> None:
        await pay_by_qr(
            session,
            settings,
            resident_id=payment.resident_id,
            payload=payment.payload,
            amount=payment.amount,
            claim=payment.claim,
            rewards=rewards,
            use_points=payment.use_points,
        )

    return await run_idempotent(session, payment.claim.request, produce, claimed_by_produce=True)


@dataclass(frozen=True, slots=True)
class QrPayment:
    """A resident's QR payment as they asked for it (``POST /payments``)."""

    resident_id: int
    payload: str
    amount: int | None
    use_points: bool
    claim: PaymentClaim

    def sticker(self, settings: Settings) -> ParsedQr | None:
        """The shop's sticker this pays, with its amount, if it may be paid in a group commit:
        a signed static code and an amount within the limit. Anything else (a dynamic code, an
        invalid code, no amount, too much) is paid on its own, where it is refused if it
        must be."""
        if self.amount is None or not 1 <= self.amount <= settings.max_payment:
            return None
        try:
            parsed = parse_shop_qr(settings, self.payload)
        except MachipayError:
            return None
        return None if parsed.dynamic else parsed


@dataclass(frozen=True, slots=True)
class BatchAnswer:
    """One payment's outcome in a group commit: its answer (paid now, or a replay), a refusal
    of its key (reused, or still being paid), or ``alone``: nothing of it was kept, pay it on
    its own."""

    stored: StoredResponse | None = None
    refusal: MachipayError | None = None
    alone: bool = False


# payment_open for each payment of a batch (payments/sql/payment_open_batch.sql).
_TEXTS, _BIGINTS, _AT = ARRAY(String()), ARRAY(BigInteger()), UTCDateTime()
_OPEN_BATCH = HotStatement.function_call(
    "ord, outcome, record_id, stored_hash, stored_status, stored_body, merchant_id,"
    " merchant_name, shopping_street_id, category, store_type, merchant_status, street_name,"
    " district_id, lot_ids, lot_remaining",
    "payment_open_batch",
    {
        "scopes": _TEXTS, "keys": _TEXTS, "request_hashes": _TEXTS, "created_at": _AT,
        "public_ids": _TEXTS, "residents": _BIGINTS, "now": _AT, "amounts": _BIGINTS,
        "use_points": ARRAY(Boolean()), "money_codes": _TEXTS,
    },
)  # fmt: skip


async def rehearse_stickers(session: AsyncSession, rewards: CampaignRewards) -> None:
    """Send a batch's three statements once with no payment in them (roll back after): the
    connection prepares each, and its backend compiles each function, so the first batches
    on a new connection pay neither."""
    now = utcnow()
    empty: dict[str, object] = {name: [] for name in _OPEN_BATCH.names}
    await _OPEN_BATCH.rows(session, {**empty, "created_at": now, "now": now})
    await rewards.rehearse(session)
    await rehearse_record_batch(session)


async def pay_stickers(
    session: AsyncSession,
    settings: Settings,
    payments: Sequence[tuple[QrPayment, ParsedQr]],
    *,
    rewards: CampaignRewards = no_campaign_rewards,
) -> list[BatchAnswer]:
    """Several payers' sticker payments in one transaction and three calls (the group
    commit): each payment's key is claimed, its shop read and its payer locked by
    ``payment_open_batch``; the campaign's grants and every payment's rows follow in one
    call each (:func:`payments.service.pay_many`). One payer at most once, payers in id
    order. The answers are in the given order."""
    if len({p.resident_id for p, _ in payments}) != len(payments):
        raise ValueError("a batch pays each resident at most once")
    now = utcnow()
    requests = [p.claim.request for p, _ in payments]
    rows = await _OPEN_BATCH.rows(
        session,
        {
            "scopes": [r.scope for r in requests],
            "keys": [r.key for r in requests],
            "request_hashes": [r.fingerprint for r in requests],
            "created_at": now,
            "public_ids": [parsed.merchant_public_id for _, parsed in payments],
            "residents": [p.resident_id for p, _ in payments],
            "now": now,
            "amounts": [p.amount for p, _ in payments],
            "use_points": [p.use_points for p, _ in payments],
            "money_codes": [resident_money(p.resident_id) for p, _ in payments],
        },
    )
    answers = [BatchAnswer(alone=True) for _ in payments]
    opened: list[tuple[int, PaymentAsk]] = []
    for row in rows:
        i, outcome = int(row[0]) - 1, row[1]
        payment, parsed = payments[i]
        if outcome == "replay":
            try:
                answers[i] = BatchAnswer(stored=replay_of(payment.claim.request, row[2:6]))
            except MachipayError as refusal:
                answers[i] = BatchAnswer(refusal=refusal)
        elif outcome == "open":
            payment.claim.request.claimed(row[2:6])
            assert payment.amount is not None
            ask = PaymentAsk(
                payment.resident_id,
                scanned_shop(parsed, row[6:14]).view,
                payment.amount,
                payment.use_points,
                LockedPayer(now, list(zip(row[14], row[15], strict=True))),
                payment.claim,
            )
            opened.append((i, ask))
    if opened:
        await pay_many(session, settings, [ask for _, ask in opened], rewards=rewards)
        for i, ask in opened:
            answer = ask.claim.request.answer
            assert answer is not None
            answers[i] = BatchAnswer(stored=StoredResponse(*answer, replayed=False))
    return answers
