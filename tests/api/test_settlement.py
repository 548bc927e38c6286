"""Settlement, Zengin payouts and the prepaid-instrument reports (issue 7).

Payments go through the real API; settlements run through the service with explicit
cut-offs between "days" (the ledger's timestamps come from the database clock, so a
month is played as thirty short days, each closed by its own cut-off).
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

import ledger
from identity import create_user
from ledger.models import Account, Posting
from machipay.auth import Role
from machipay.settings import Settings
from machipay.timeutil import TOKYO, to_tokyo, utcnow
from machipay.zengin_kana import ZenginError, to_zengin_kana
from merchant_api import lock_shop_for_settlement, static_payload
from merchant_api.models import Merchant
from settlement import (
    apply_payout_results,
    closing_date,
    create_payout_file,
    cutoff_of,
    deposit_for,
    deposit_report,
    parse_result_csv,
    settle_period,
)
from settlement.models import Payout, Settlement
from tests.api.campaign_kit import Ward, balance, open_ward
from tests.api.conftest import ResidentHandle, register, top_up
from tests.api.shops import ShopHandle, application, approve_shop, staff_token, sticker_payload
from tests.api.test_payments import pay
from tests.test_cli import run_cli

# -- pure rules ----------------------------------------------------------------------------


def test_periods_close_on_the_day_the_sunday_or_the_month_end() -> None:
    monday, sunday = date(2026, 11, 23), date(2026, 11, 22)
    assert closing_date("daily", monday) == monday
    assert closing_date("weekly", monday) == sunday
    assert closing_date("weekly", sunday) == sunday
    assert closing_date("monthly", date(2026, 11, 30)) == date(2026, 11, 30)
    assert closing_date("monthly", date(2026, 11, 29)) == date(2026, 10, 31)
    assert closing_date("monthly", date(2026, 3, 1)) == date(2026, 2, 28)
    midnight = Settings(settlement_cutoff_hour=0)
    five = Settings(settlement_cutoff_hour=5)
    assert cutoff_of(sunday, midnight) == datetime(2026, 11, 23, tzinfo=TOKYO)
    assert cutoff_of(sunday, five) == datetime(2026, 11, 23, 5, tzinfo=TOKYO)


def test_names_become_the_banks_half_width_kana() -> None:
    assert to_zengin_kana("シモキタザワ　ヤオヤ") == "ｼﾓｷﾀｻﾞﾜ ﾔｵﾔ"
    assert to_zengin_kana("ｶ)ｷｯﾁﾝ") == "ｶ)ｷﾂﾁﾝ"  # small kana become large
    assert to_zengin_kana("ぱんや abc") == "ﾊﾟﾝﾔ ABC"
    assert to_zengin_kana("ヴィーガン") == "ｳﾞｲ-ｶﾞﾝ"
    for bad in ("下北沢", "ショップ♪", "@"):
        with pytest.raises(ZenginError):
            to_zengin_kana(bad)


def test_the_deposit_is_half_the_whole_balance_once_it_passes_ten_million() -> None:
    assert deposit_for(0) == 0
    assert deposit_for(10_000_000) == 0
    assert deposit_for(10_000_001) == 5_000_001  # rounded up: "half or more"
    assert deposit_for(25_000_000) == 12_500_000


# -- a month of trading --------------------------------------------------------------------


@dataclass
class Day:
    """What the test itself saw happen at one shop on one day (from the API's answers)."""

    sales: list[int] = field(default_factory=list)
    refunds: list[int] = field(default_factory=list)
    cashback: int = 0
    points: int = 0  # spent at the shop, net of points refunded
    returned: int = 0  # failed payouts coming back


@dataclass
class Shop:
    handle: ShopHandle
    payload: str
    payments: list[dict[str, Any]] = field(default_factory=list)
    days: list[Day] = field(default_factory=list)


async def funded(client: httpx.AsyncClient, money: int) -> ResidentHandle:
    resident = await register(client)
    assert (await top_up(client, resident.wallet_id, money)).status_code == 200
    return resident


async def refund(
    client: httpx.AsyncClient, shop: ShopHandle, payment_id: str, amount: int
) -> dict[str, Any]:
    response = await client.post(
        f"/api/v1/merchant/payments/{payment_id}/refunds",
        json={"amount": amount},
        headers=shop.headers | {"Idempotency-Key": uuid.uuid4().hex},
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


async def settle_day(
    app: FastAPI, settings: Settings, shop_id: int, closing: date, cutoff: datetime
) -> Settlement | None:
    async with app.state.sessionmaker() as session:
        merchant = await lock_shop_for_settlement(session, shop_id)
        statement = await settle_period(
            session, settings, merchant, closing=closing, cutoff=cutoff, now=utcnow()
        )
        await session.commit()
        return statement


async def statements(app: FastAPI, shop_id: int) -> list[Settlement]:
    async with app.state.sessionmaker() as session:
        rows = await session.execute(
            select(Settlement).where(Settlement.merchant_id == shop_id).order_by(Settlement.id)
        )
        return list(rows.scalars())


@pytest.fixture
async def ward(client: httpx.AsyncClient, app: FastAPI) -> Any:
    ward = await open_ward(client, app)
    yield ward
    await ward.end_all()


async def test_a_month_of_trading_settles_to_the_yen(
    client: httpx.AsyncClient, app: FastAPI, ward: Ward, app_settings: Settings
) -> None:
    rng = random.Random(7)
    settings = app_settings.model_copy(update={"payout_minimum": 1_500})
    campaign = await ward.launch(resident_rate_bp=3000, merchant_rate_bp=500, budget=200_000)
    in_street = await ward.shop()
    elsewhere = await ward.shop(shopping_street_id=None)
    shops = [
        Shop(in_street, await sticker_payload(client, in_street)),
        Shop(elsewhere, await sticker_payload(client, elsewhere)),
    ]
    residents = [await funded(client, 200_000) for _ in range(3)]
    city_before = await balance(app, ledger.BANK_CITY)
    first = date(2026, 10, 1)
    bounced_back: dict[int, int] = {}  # owed again from the next day's window on
    for number in range(30):
        for shop in shops:
            shop.days.append(Day(returned=bounced_back.pop(shop.handle.id, 0)))
        for _ in range(rng.randint(0, 3)):
            shop = rng.choice(shops)
            response = await pay(
                client, rng.choice(residents), shop.payload, rng.randint(100, 3_000)
            )
            assert response.status_code == 201, response.text
            body = response.json()
            shop.payments.append(body)
            day = shop.days[-1]
            day.sales.append(body["amount"])
            day.cashback += body["rewards"]["merchant_cashback"]
            day.points += body["paid_with"]["points"]
        if number % 4 == 3:  # now and then a partial refund of an earlier sale
            shop = rng.choice([s for s in shops if s.payments] or shops)
            unsettled = await balance(app, ledger.merchant_payable(shop.handle.id))
            if shop.payments and unsettled > 0:
                # Refunds are paid from sales not yet settled (tested on its own below).
                target = rng.choice(shop.payments)
                amount = min(unsettled, max(1, target["amount"] // 3))
                done = await refund(client, shop.handle, target["id"], amount)
                target["amount"] -= amount  # never refund more than is left
                day = shop.days[-1]
                day.refunds.append(done["amount"])
                day.cashback -= done["rewards_revoked"]["merchant_cashback"]
                day.points -= done["points_back"]
        cutoff = utcnow()
        for shop in shops:
            await settle_day(app, settings, shop.handle.id, first + timedelta(days=number), cutoff)
        if number == 14:  # mid-month the bank pays one shop and bounces the other
            async with app.state.sessionmaker() as session:
                made = await create_payout_file(session, settings, transfer_date=date(2026, 10, 16))
                await session.commit()
            assert made is not None
            async with app.state.sessionmaker() as session:
                sent = {
                    p.merchant_id: p
                    for p in (
                        await session.execute(select(Payout).where(Payout.file_id == made.file.id))
                    ).scalars()
                }
            assert {s.handle.id for s in shops} <= sent.keys(), "both shops were owed money"
            bounced = sent[shops[1].handle.id]
            payable_before = await balance(app, ledger.merchant_payable(shops[1].handle.id))
            outcomes = (
                "payout_id,result,reason\n"
                f"{sent[shops[0].handle.id].id},paid,\n{bounced.id},failed,口座なし\n"
            )
            async with app.state.sessionmaker() as session:
                await apply_payout_results(session, parse_result_csv(outcomes))
                await session.commit()
            # The bounced payout is owed to the shop again, and shows on its next statement.
            assert await balance(app, ledger.merchant_payable(shops[1].handle.id)) == (
                payable_before + bounced.amount
            )
            bounced_back[shops[1].handle.id] = bounced.amount

    funded_total = 0
    for shop in shops:
        written = await statements(app, shop.handle.id)
        assert written, "every shop traded and has statements"
        # Each settled statement covers the days since the last settled one, exactly.
        pending = Day()
        by_closing = {s.closing_date: s for s in written}
        for number, day in enumerate(shop.days):
            pending.sales += day.sales
            pending.refunds += day.refunds
            pending.cashback += day.cashback
            pending.points += day.points
            pending.returned += day.returned
            statement = by_closing.get(first + timedelta(days=number))
            if statement is None:  # nothing happened and nothing was waiting
                assert not pending.sales and not pending.refunds and not pending.returned
                continue
            assert statement.gross_sales == sum(pending.sales)
            assert statement.payments == len(pending.sales)
            assert statement.refunds == sum(pending.refunds)
            assert statement.campaign_cashback == pending.cashback
            expected_total = (
                sum(pending.sales) - sum(pending.refunds) + pending.cashback + pending.returned
            )
            assert statement.total == expected_total
            assert statement.fees == 0
            if statement.status == "settled":
                assert statement.net_payout == expected_total >= settings.payout_minimum
                assert statement.campaign_funded == pending.points + pending.cashback
                funded_total += statement.campaign_funded
                pending = Day()
            else:
                assert statement.net_payout == 0 and expected_total < settings.payout_minimum
        # The books agree: what was settled left the payable; the rest is still on it.
        settled = sum(s.total for s in written if s.status == "settled")
        async with app.state.sessionmaker() as session:
            moves = await ledger.movements(
                session,
                ledger.merchant_payable(shop.handle.id),
                start=None,
                end=utcnow() + timedelta(days=1),
            )
        assert -sum(m.amount for m in moves if m.kind == "settlement") == settled
        assert await balance(app, ledger.merchant_payable(shop.handle.id)) == (
            sum(m.amount for m in moves if m.kind != "settlement") - settled
        )
        payouts_made = sum(s.net_payout for s in written)
        async with app.state.sessionmaker() as session:
            paid_out = (
                await session.execute(
                    select(func.coalesce(func.sum(Payout.amount), 0)).where(
                        Payout.merchant_id == shop.handle.id
                    )
                )
            ).scalar_one()
        assert paid_out == payouts_made
    # The campaign-funded part came out of the ward's money, not the residents' float.
    assert funded_total > 0
    assert await balance(app, ledger.BANK_CITY) == city_before - funded_total
    assert (await ward.get(campaign["id"]))["status"] == "active"

    # Settling the same periods again changes nothing.
    before = {shop.handle.id: len(await statements(app, shop.handle.id)) for shop in shops}
    for shop in shops:
        for number in range(30):
            again = await settle_day(
                app, settings, shop.handle.id, first + timedelta(days=number), utcnow()
            )
            assert again is None
    assert {shop.handle.id: len(await statements(app, shop.handle.id)) for shop in shops} == before
    async with app.state.sessionmaker() as session:
        result = await ledger.reconcile(session)
    assert result.ok, result.problems


# -- statements in the merchant API --------------------------------------------------------


async def settled_shop(
    client: httpx.AsyncClient, app: FastAPI, settings: Settings, amounts: list[int]
) -> tuple[ShopHandle, Settlement]:
    from tests.api.shops import open_shop

    shop = await open_shop(client, app, shopping_street_id=None)
    payload = await sticker_payload(client, shop)
    resident = await funded(client, 50_000)
    for amount in amounts:
        assert (await pay(client, resident, payload, amount)).status_code == 201
    statement = await settle_day(app, settings, shop.id, date(2026, 11, 1), utcnow())
    assert statement is not None
    return shop, statement


async def test_a_shop_reads_its_statements_as_json_and_csv(
    client: httpx.AsyncClient, app: FastAPI, app_settings: Settings
) -> None:
    shop, statement = await settled_shop(client, app, app_settings, [1_200, 800, 3_000])
    listed = await client.get("/api/v1/merchant/settlements", headers=shop.headers)
    assert listed.status_code == 200, listed.text
    [item] = listed.json()["items"]
    assert item["id"] == statement.id
    assert (item["gross_sales"], item["net_payout"], item["status"]) == (5_000, 5_000, "settled")
    assert item["payout"]["status"] == "pending" and item["payout"]["amount"] == 5_000

    detail = await client.get(f"/api/v1/merchant/settlements/{statement.id}", headers=shop.headers)
    assert detail.status_code == 200
    assert [line["amount"] for line in detail.json()["lines"]] == [1_200, 800, 3_000]

    csv_response = await client.get(
        f"/api/v1/merchant/settlements/{statement.id}/csv", headers=shop.headers
    )
    assert csv_response.status_code == 200
    assert csv_response.content.startswith("\ufeff".encode())
    text = csv_response.content.decode("utf-8-sig")
    assert "振込額,,,,5000" in text and text.count("支払,") == 3

    other, _ = await settled_shop(client, app, app_settings, [2_000])
    stolen = await client.get(f"/api/v1/merchant/settlements/{statement.id}", headers=other.headers)
    assert stolen.status_code == 404
    assert stolen.headers["content-type"].startswith("application/problem+json")


async def test_a_small_period_is_carried_forward_then_paid_with_the_next(
    client: httpx.AsyncClient, app: FastAPI, app_settings: Settings
) -> None:
    from tests.api.shops import open_shop

    shop = await open_shop(client, app, shopping_street_id=None)
    payload = await sticker_payload(client, shop)
    resident = await funded(client, 20_000)
    assert (await pay(client, resident, payload, 400)).status_code == 201
    small = await settle_day(app, app_settings, shop.id, date(2026, 11, 1), utcnow())
    assert small is not None and small.status == "carried_forward" and small.net_payout == 0
    assert await balance(app, ledger.merchant_payable(shop.id)) == 400
    assert (await pay(client, resident, payload, 900)).status_code == 201
    paid = await settle_day(app, app_settings, shop.id, date(2026, 11, 2), utcnow())
    assert paid is not None and paid.status == "settled"
    assert (paid.gross_sales, paid.payments, paid.net_payout) == (1_300, 2, 1_300)
    assert await balance(app, ledger.merchant_payable(shop.id)) == 0
    assert await balance(app, ledger.merchant_payout(shop.id)) == 1_300


async def test_fees_go_to_the_platform(
    client: httpx.AsyncClient, app: FastAPI, app_settings: Settings
) -> None:
    settings = app_settings.model_copy(update={"merchant_fee_bp": 325})
    fees_before = await balance(app, ledger.PLATFORM_FEES)
    shop, statement = await settled_shop(client, app, settings, [10_001])
    assert statement.fees == 325  # 3.25 % of ¥10,001, rounded down
    assert statement.net_payout == 10_001 - 325
    assert await balance(app, ledger.PLATFORM_FEES) == fees_before + 325
    assert await balance(app, ledger.merchant_payout(shop.id)) == 10_001 - 325


# -- the operator's side: runs, the Zengin file, the bank's result ---------------------------


async def test_settlement_runs_are_for_operators_and_past_days(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    operator = await staff_token(client, app, Role.OPERATOR)
    officer = await staff_token(client, app, Role.OFFICER)
    today = to_tokyo(utcnow()).date()
    body = {"as_of": (today - timedelta(days=1)).isoformat()}
    assert (
        await client.post("/api/v1/settlements/run", json=body, headers=officer)
    ).status_code == 403
    refused = await client.post(
        "/api/v1/settlements/run", json={"as_of": today.isoformat()}, headers=operator
    )
    assert refused.status_code == 422
    done = await client.post("/api/v1/settlements/run", json=body, headers=operator)
    assert done.status_code == 200, done.text
    assert done.json()["failures"] == [] and done.json()["merchants"] >= 0


def read_zengin(content: bytes) -> list[dict[str, str]]:
    """An independent reader: slices the published layout (shared/docs/ZENGIN.md)."""
    assert content.endswith(b"\r\n")
    records = content.split(b"\r\n")[:-1]
    parsed: list[dict[str, str]] = []
    for raw in records:
        assert len(raw) == 120, (len(raw), raw)
        text = raw.decode("cp932")
        kind = text[0]
        if kind == "1":
            name_end = 14 + len(_take(raw, 14, 40).decode("cp932"))
            assert name_end
            parsed.append(
                {
                    "kind": "header",
                    "type": _take(raw, 1, 2).decode(),
                    "code": _take(raw, 3, 1).decode(),
                    "client": _take(raw, 4, 10).decode(),
                    "client_name": _take(raw, 14, 40).decode("cp932").rstrip(),
                    "date": _take(raw, 54, 4).decode(),
                    "bank": _take(raw, 58, 4).decode(),
                    "branch": _take(raw, 77, 3).decode(),
                    "account_type": _take(raw, 95, 1).decode(),
                    "account": _take(raw, 96, 7).decode(),
                }
            )
        elif kind == "2":
            parsed.append(
                {
                    "kind": "data",
                    "bank": _take(raw, 1, 4).decode(),
                    "branch": _take(raw, 20, 3).decode(),
                    "account_type": _take(raw, 42, 1).decode(),
                    "account": _take(raw, 43, 7).decode(),
                    "name": _take(raw, 50, 30).decode("cp932").rstrip(),
                    "amount": _take(raw, 80, 10).decode(),
                    "new": _take(raw, 90, 1).decode(),
                    "customer1": _take(raw, 91, 10).decode().strip(),
                    "customer2": _take(raw, 101, 10).decode().strip(),
                    "transfer": _take(raw, 111, 1).decode(),
                }
            )
        elif kind == "8":
            parsed.append(
                {
                    "kind": "trailer",
                    "count": _take(raw, 1, 6).decode(),
                    "total": _take(raw, 7, 12).decode(),
                }
            )
        else:
            assert kind == "9" and raw[1:] == b" " * 119
            parsed.append({"kind": "end"})
    return parsed


def _take(raw: bytes, start: int, width: int) -> bytes:
    return raw[start : start + width]


async def test_the_zengin_file_reads_back_and_the_banks_result_applies(
    client: httpx.AsyncClient,
    app: FastAPI,
    app_settings: Settings,
    database_url: str,
    tmp_path: Path,
) -> None:
    paid_shop, paid_statement = await settled_shop(client, app, app_settings, [4_321])
    bounced = await client.post(
        "/api/v1/merchants",
        json=application(
            f"shop-{uuid.uuid4().hex[:10]}",
            shopping_street_id=None,
            bank={
                "bank_code": "0009",
                "branch_code": "250",
                "account_type": "current",
                "account_number": "765",
                "account_name_kana": "カ）ガッコウショクドウ",
            },
        ),
    )
    assert bounced.status_code == 201, bounced.text
    bounced_id = bounced.json()["id"]
    await approve_shop(client, app, bounced_id)
    async with app.state.sessionmaker() as session:
        owner = (
            await session.execute(select(Merchant).where(Merchant.id == bounced_id))
        ).scalar_one()
        payload = await static_payload(session, app_settings, owner)
    resident = await funded(client, 20_000)
    assert (await pay(client, resident, payload, 2_500)).status_code == 201
    second = await settle_day(app, app_settings, bounced_id, date(2026, 11, 1), utcnow())
    assert second is not None and second.net_payout == 2_500

    out = tmp_path / "zengin.txt"
    made = run_cli(
        "payout",
        "--format",
        "zengin",
        "--out",
        str(out),
        "--transfer-date",
        "2026-11-25",
        database_url=database_url,
        redis_url=app_settings.redis_url,
    )
    assert made.returncode == 0, made.stderr
    records = read_zengin(out.read_bytes())
    header, *data, trailer, end = records
    assert header["kind"] == "header" and end["kind"] == "end"
    assert (header["type"], header["code"], header["date"]) == ("21", "0", "1125")
    assert header["client"] == app_settings.zengin_client_code
    assert header["bank"] == app_settings.zengin_bank_code
    assert header["client_name"] == "ﾏﾁﾍﾟｲ(ｶ"
    assert all(d["kind"] == "data" for d in data)
    assert int(trailer["count"]) == len(data)
    assert int(trailer["total"]) == sum(int(d["amount"]) for d in data)
    async with app.state.sessionmaker() as session:
        ours = {
            p.merchant_id: p
            for p in (
                await session.execute(
                    select(Payout).where(Payout.merchant_id.in_([paid_shop.id, bounced_id]))
                )
            ).scalars()
        }
    by_customer = {d["customer1"]: d for d in data}
    first_record = by_customer[str(ours[paid_shop.id].id).zfill(10)]
    assert first_record["amount"] == "0000004321"
    assert (first_record["bank"], first_record["branch"], first_record["account"]) == (
        "0001",
        "123",
        "1234567",
    )
    assert first_record["name"] == "ｼﾓｷﾀｻﾞﾜ ﾔｵﾔ"
    second_record = by_customer[str(ours[bounced_id].id).zfill(10)]
    assert second_record["account_type"] == "2" and second_record["account"] == "0000765"
    assert second_record["name"] == "ｶ)ｶﾞﾂｺｳｼﾖｸﾄﾞｳ"
    assert second_record["customer2"] == str(bounced_id).zfill(10)
    assert {d["new"] for d in data} == {"0"} and {d["transfer"] for d in data} == {"7"}

    # The same file can be written out again, byte for byte.
    file_id = made.stdout.split("file ", 1)[1].split(",", 1)[0]
    copy = run_cli(
        "payout",
        "--out",
        str(tmp_path / "copy.txt"),
        "--file-id",
        file_id,
        database_url=database_url,
    )
    assert copy.returncode == 0, copy.stderr
    assert (tmp_path / "copy.txt").read_bytes() == out.read_bytes()
    # Nothing pending any more: no second file.
    again = run_cli(
        "payout",
        "--out",
        str(tmp_path / "again.txt"),
        database_url=database_url,
        redis_url=app_settings.redis_url,
    )
    assert again.returncode == 0 and "no pending payouts" in again.stdout
    assert not (tmp_path / "again.txt").exists()

    # The bank's answer: one paid, one failed. Through the operator API: one operator
    # imports it, a second confirms it.
    operator = await staff_token(client, app, Role.OPERATOR)
    second_operator = await staff_token(client, app, Role.OPERATOR)
    result_csv = (
        "payout_id,result,reason\n"
        f"{ours[paid_shop.id].id},paid,\n"
        f"{ours[bounced_id].id},failed,口座番号相違\n"
    )
    settlement_before = await balance(app, ledger.BANK_SETTLEMENT)

    async def import_and_confirm(csv_text: str) -> httpx.Response:
        imported = await client.post(
            "/api/v1/payouts/results",
            content=csv_text.encode(),
            headers=operator | {"Content-Type": "text/csv"},
        )
        if imported.status_code != 200:
            return imported
        return await client.post(
            f"/api/v1/payouts/results/{imported.json()['import_id']}/confirm",
            headers=second_operator,
        )

    applied = await import_and_confirm(result_csv)
    assert applied.status_code == 200, applied.text
    assert {k: v for k, v in applied.json().items() if k != "import_id"} == {
        "status": "confirmed",
        "paid": 1,
        "failed": 1,
        "unchanged": 0,
        "paid_amount": 4_321,
        "failed_amount": 2_500,
    }
    assert await balance(app, ledger.BANK_SETTLEMENT) == settlement_before - 4_321
    assert await balance(app, ledger.merchant_payout(paid_shop.id)) == 0
    assert await balance(app, ledger.merchant_payable(bounced_id)) == 2_500  # owed again
    # The same file again changes nothing; a contradicting one is refused whole.
    replay = await import_and_confirm(result_csv)
    assert replay.json()["unchanged"] == 2
    contradiction = await import_and_confirm(f"payout_id,result\n{ours[bounced_id].id},paid\n")
    assert contradiction.status_code == 422
    assert contradiction.json()["type"].endswith("payout-result-rejected")
    assert await balance(app, ledger.merchant_payable(bounced_id)) == 2_500
    garbage = await client.post(
        "/api/v1/payouts/results", content=b"payout_id,result\nabc,maybe\n", headers=operator
    )
    assert garbage.status_code == 422 and "line 2" in garbage.json()["detail"]

    listed = await client.get("/api/v1/payouts", params={"status": "failed"}, headers=operator)
    assert ours[bounced_id].id in [p["id"] for p in listed.json()["items"]]
    detail = await client.get(
        f"/api/v1/merchant/settlements/{paid_statement.id}", headers=paid_shop.headers
    )
    assert detail.json()["payout"]["status"] == "paid"


async def test_onboarding_refuses_account_names_a_bank_file_cannot_carry(
    client: httpx.AsyncClient,
) -> None:
    for name in ("山田商店", "ヤマダ" * 11):
        response = await client.post(
            "/api/v1/merchants",
            json=application(
                f"shop-{uuid.uuid4().hex[:10]}",
                bank={
                    "bank_code": "0001",
                    "branch_code": "123",
                    "account_type": "ordinary",
                    "account_number": "1234567",
                    "account_name_kana": name,
                },
            ),
        )
        assert response.status_code == 422, name
        assert "account_name_kana" in response.json()["detail"]


# -- reports -------------------------------------------------------------------------------


async def money_as_of_independently(app: FastAPI, moment: datetime) -> int:
    """Σ over every resident money account of its postings before ``moment`` (credits
    raise it), not using balance_after at all."""
    async with app.state.sessionmaker() as session:
        total = (
            await session.execute(
                select(func.coalesce(func.sum(-Posting.amount), 0))
                .join(Account, Account.id == Posting.account_id)
                .where(Account.code.like("resident:%:money"), Posting.created_at < moment)
            )
        ).scalar_one()
    return int(total)


async def test_the_deposit_report_for_a_past_moment_matches_the_postings(
    client: httpx.AsyncClient, app: FastAPI, database_url: str, app_settings: Settings
) -> None:
    resident = await funded(client, 30_000)
    moment = utcnow()
    assert (await top_up(client, resident.wallet_id, 12_345)).status_code == 200
    async with app.state.sessionmaker() as session:
        then = await ledger.total_as_of(session, ledger.resident_money("%"), moment)
        now = await ledger.total_as_of(
            session, ledger.resident_money("%"), utcnow() + timedelta(seconds=1)
        )
    assert then == await money_as_of_independently(app, moment)
    assert now == then + 12_345

    today = to_tokyo(utcnow()).date()
    async with app.state.sessionmaker() as session:
        report = await deposit_report(session, today)
        yesterday = await deposit_report(session, today - timedelta(days=1))
    end_of_today = datetime.combine(today + timedelta(days=1), datetime.min.time(), tzinfo=TOKYO)
    assert report.unused_balance == await money_as_of_independently(app, end_of_today)
    assert yesterday.unused_balance == await money_as_of_independently(
        app, end_of_today - timedelta(days=1)
    )
    assert report.deposit_required == deposit_for(report.unused_balance)

    printed = run_cli(
        "report",
        "deposit",
        "--as-of",
        today.isoformat(),
        "--json",
        database_url=database_url,
        redis_url=app_settings.redis_url,
    )
    assert printed.returncode == 0, printed.stderr
    assert f'"unused_balance": {report.unused_balance}' in printed.stdout
    text = run_cli("report", "deposit", "--as-of", today.isoformat(), database_url=database_url)
    assert f"¥{report.unused_balance:,}" in text.stdout


async def test_reconcile_holds_and_compares_with_the_bank(
    client: httpx.AsyncClient, app: FastAPI, database_url: str, app_settings: Settings
) -> None:
    await funded(client, 7_000)
    async with app.state.sessionmaker() as session:
        result = await ledger.reconcile(session)
        bank = await ledger.get_balance(session, ledger.BANK_SETTLEMENT)
    assert result.ok, result.problems
    assert result.identity_difference == 0 and result.float_cover >= 0
    matched = run_cli(
        "report",
        "reconcile",
        "--bank-balance",
        str(bank),
        database_url=database_url,
        redis_url=app_settings.redis_url,
    )
    assert matched.returncode == 0, matched.stdout + matched.stderr
    assert "reconciled" in matched.stdout
    off = run_cli(
        "report",
        "reconcile",
        "--bank-balance",
        str(bank - 1),
        "--json",
        database_url=database_url,
    )
    assert off.returncode == 1
    assert '"bank_difference": -1' in off.stdout


async def test_a_refund_after_payout_waits_for_new_sales_to_cover_it(
    client: httpx.AsyncClient, app: FastAPI, app_settings: Settings
) -> None:
    from tests.api.shops import open_shop

    shop = await open_shop(client, app, shopping_street_id=None)
    payload = await sticker_payload(client, shop)
    resident = await funded(client, 20_000)
    first = (await pay(client, resident, payload, 3_000)).json()
    settled = await settle_day(app, app_settings, shop.id, date(2026, 11, 1), utcnow())
    assert settled is not None and settled.net_payout == 3_000
    refused = await client.post(
        f"/api/v1/merchant/payments/{first['id']}/refunds",
        json={"amount": 1_000},
        headers=shop.headers | {"Idempotency-Key": uuid.uuid4().hex},
    )
    assert refused.status_code == 409
    assert refused.json()["type"].endswith("refund-not-covered-by-sales")
    assert (await pay(client, resident, payload, 2_500)).status_code == 201
    done = await refund(client, shop, first["id"], 1_000)
    assert done["money_back"] == 1_000
    netted = await settle_day(app, app_settings, shop.id, date(2026, 11, 2), utcnow())
    assert netted is not None
    assert (netted.gross_sales, netted.refunds, netted.net_payout) == (2_500, 1_000, 1_500)


# -- bank fields and the payout file -------------------------------------------------------


async def test_bank_digits_are_ascii_after_nfkc(client: httpx.AsyncClient, app: FastAPI) -> None:
    # Full-width digits as an IME types them are the same digits: kept as ASCII.
    typed = await client.post(
        "/api/v1/merchants",
        json=application(
            f"shop-{uuid.uuid4().hex[:10]}",
            bank={
                "bank_code": "０００１",
                "branch_code": "１２３",
                "account_type": "ordinary",
                "account_number": "７６５",
                "account_name_kana": "ﾔﾏﾀﾞ ｼｮｳﾃﾝ",
            },
        ),
    )
    assert typed.status_code == 201, typed.text
    async with app.state.sessionmaker() as session:
        shop = await session.get(Merchant, typed.json()["id"])
        assert shop is not None
        assert (shop.bank_code, shop.branch_code, shop.account_number) == (
            "0001",
            "123",
            "0000765",
        )
    # Other scripts' digits are no bank's digits (NFKC leaves them as they are).
    for field_name, value in (
        ("bank_code", "٠٠٠١"),  # Arabic-Indic
        ("branch_code", "१२३"),  # Devanagari
        ("account_number", "๑๒๓๔๕๖๗"),  # Thai
        ("account_number", "12 34"),
    ):
        bank = {
            "bank_code": "0001",
            "branch_code": "123",
            "account_type": "ordinary",
            "account_number": "1234567",
            "account_name_kana": "ﾔﾏﾀﾞ ｼｮｳﾃﾝ",
            field_name: value,
        }
        refused = await client.post(
            "/api/v1/merchants", json=application(f"shop-{uuid.uuid4().hex[:10]}", bank=bank)
        )
        assert refused.status_code == 422, (field_name, value, refused.text)
        assert refused.json()["detail"].startswith(f"bank.{field_name}")


async def test_a_payout_with_unwritable_bank_fields_does_not_block_the_others(
    client: httpx.AsyncClient,
    app: FastAPI,
    app_settings: Settings,
    database_url: str,
    tmp_path: Path,
) -> None:
    good_shop, _ = await settled_shop(client, app, app_settings, [3_000])
    bad_shop, _ = await settled_shop(client, app, app_settings, [2_000])
    # Old data, stored before the edge refused it: full-width digits the writer cannot take.
    async with app.state.sessionmaker() as session:
        bad = (
            await session.execute(select(Payout).where(Payout.merchant_id == bad_shop.id))
        ).scalar_one()
        bad.bank_code = "０００１"
        await session.commit()
        bad_id = bad.id
    operator = await staff_token(client, app, Role.OPERATOR)
    made = await client.post(
        "/api/v1/payout-files", json={"transfer_date": "2026-11-25"}, headers=operator
    )
    assert made.status_code == 201, made.text
    held = made.json()["held"]
    assert [h["payout_id"] for h in held] == [bad_id]
    assert held[0]["merchant_id"] == bad_shop.id and "bank code" in held[0]["reason"]
    content = (await client.get(made.json()["download"], headers=operator)).content
    data = [r for r in read_zengin(content) if r["kind"] == "data"]
    assert str(bad_id).zfill(10) not in {d["customer1"] for d in data}
    async with app.state.sessionmaker() as session:
        ours = {
            p.merchant_id: p
            for p in (
                await session.execute(
                    select(Payout).where(Payout.merchant_id.in_([good_shop.id, bad_shop.id]))
                )
            ).scalars()
        }
    assert ours[good_shop.id].status == "sent"
    assert ours[good_shop.id].file_id == made.json()["id"]
    assert ours[bad_shop.id].status == "pending" and ours[bad_shop.id].file_id is None
    assert "bank code" in (ours[bad_shop.id].failure_reason or "")
    # Nothing else pending: the held payout alone makes no file, and says why (no 500).
    alone = await client.post("/api/v1/payout-files", json={}, headers=operator)
    assert alone.status_code == 422, alone.text
    assert alone.json()["type"].endswith("/payouts-held")
    assert [h["payout_id"] for h in alone.json()["held"]] == [bad_id]
    # The CLI reports it too, and still writes the others.
    third, _ = await settled_shop(client, app, app_settings, [1_500])
    done = run_cli(
        "payout",
        "--out",
        str(tmp_path / "zengin.txt"),
        database_url=database_url,
        redis_url=app_settings.redis_url,
    )
    assert done.returncode == 0, done.stderr
    assert f"held: payout {bad_id}" in done.stderr
    written = [
        r for r in read_zengin((tmp_path / "zengin.txt").read_bytes()) if r["kind"] == "data"
    ]
    assert [d["customer2"] for d in written] == [str(third.id).zfill(10)]
    # Put right, it goes out with the next file and no longer carries the reason.
    async with app.state.sessionmaker() as session:
        fixed = await session.get(Payout, bad_id)
        assert fixed is not None
        fixed.bank_code = "0001"
        await session.commit()
    put_right = await client.post("/api/v1/payout-files", json={}, headers=operator)
    assert put_right.status_code == 201 and put_right.json()["held"] == []
    async with app.state.sessionmaker() as session:
        sent = await session.get(Payout, bad_id)
        assert sent is not None and sent.status == "sent" and sent.failure_reason is None


async def named_operator(client: httpx.AsyncClient, app: FastAPI) -> tuple[str, dict[str, str]]:
    username, password = f"operator-{uuid.uuid4().hex[:8]}", "staff-passphrase-123"
    async with app.state.sessionmaker() as session:
        await create_user(session, username=username, password=password, role=Role.OPERATOR)
        await session.commit()
    token = await client.post(
        "/api/v1/auth/token", json={"username": username, "password": password}
    )
    assert token.status_code == 200, token.text
    return username, {"Authorization": f"Bearer {token.json()['access_token']}"}


async def test_the_banks_result_moves_money_only_when_a_second_operator_confirms_it(
    client: httpx.AsyncClient,
    app: FastAPI,
    app_settings: Settings,
    database_url: str,
    tmp_path: Path,
) -> None:
    paid_shop, _ = await settled_shop(client, app, app_settings, [3_300])
    bounced_shop, _ = await settled_shop(client, app, app_settings, [1_700])
    importer_name, importer = await named_operator(client, app)
    _, confirmer = await named_operator(client, app)
    made = await client.post("/api/v1/payout-files", json={}, headers=importer)
    assert made.status_code == 201, made.text
    async with app.state.sessionmaker() as session:
        ours = {
            p.merchant_id: p.id
            for p in (
                await session.execute(
                    select(Payout).where(Payout.merchant_id.in_([paid_shop.id, bounced_shop.id]))
                )
            ).scalars()
        }
    settlement_before = await balance(app, ledger.BANK_SETTLEMENT)

    imported = await client.post(
        "/api/v1/payouts/results",
        content=f"payout_id,result,reason\n{ours[paid_shop.id]},paid,\n".encode(),
        headers=importer | {"Content-Type": "text/csv"},
    )
    assert imported.status_code == 200, imported.text
    body = imported.json()
    assert body["status"] == "pending" and (body["paid"], body["paid_amount"]) == (1, 3_300)
    # Imported is not applied: no money has moved, the payout is still only sent.
    assert await balance(app, ledger.BANK_SETTLEMENT) == settlement_before
    assert await balance(app, ledger.merchant_payout(paid_shop.id)) == 3_300
    # The importer cannot confirm their own import.
    own = await client.post(
        f"/api/v1/payouts/results/{body['import_id']}/confirm", headers=importer
    )
    assert own.status_code == 403, own.text
    assert own.headers["content-type"] == "application/problem+json"
    assert own.json()["type"].endswith("/payout-import-self-confirmation")
    assert await balance(app, ledger.BANK_SETTLEMENT) == settlement_before
    waiting = await client.get(
        "/api/v1/payouts/results", params={"status": "pending"}, headers=confirmer
    )
    assert body["import_id"] in [i["id"] for i in waiting.json()]
    # A second operator confirms it: now the money moves, once.
    confirmed = await client.post(
        f"/api/v1/payouts/results/{body['import_id']}/confirm", headers=confirmer
    )
    assert confirmed.status_code == 200, confirmed.text
    assert confirmed.json()["status"] == "confirmed" and confirmed.json()["paid"] == 1
    assert await balance(app, ledger.BANK_SETTLEMENT) == settlement_before - 3_300
    assert await balance(app, ledger.merchant_payout(paid_shop.id)) == 0
    assert (
        await client.post(f"/api/v1/payouts/results/{body['import_id']}/confirm", headers=confirmer)
    ).status_code == 409

    # From the CLI, the import is recorded in its named operator's name, pending too.
    result_file = tmp_path / "result.csv"
    result_file.write_text(f"payout_id,result,reason\n{ours[bounced_shop.id]},failed,解約\n")
    done = run_cli(
        "payout-results",
        str(result_file),
        "--by",
        importer_name,
        database_url=database_url,
        redis_url=app_settings.redis_url,
    )
    assert done.returncode == 0, done.stderr
    assert "pending" in done.stdout
    assert await balance(app, ledger.merchant_payable(bounced_shop.id)) == 0
    cli_import = int(done.stdout.split("import ", 1)[1].split(" ", 1)[0])
    assert (
        await client.post(f"/api/v1/payouts/results/{cli_import}/confirm", headers=importer)
    ).status_code == 403
    assert (
        await client.post(f"/api/v1/payouts/results/{cli_import}/confirm", headers=confirmer)
    ).status_code == 200
    assert await balance(app, ledger.merchant_payable(bounced_shop.id)) == 1_700
