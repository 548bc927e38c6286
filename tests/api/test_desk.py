"""The help desk (窓口, API.md "Help desk (role desk)"), through HTTP on PostgreSQL: audited
look-ups the resident can read, freezing, district moves, two-person closures refunded in
the next Zengin file, and cash top-ups with a receipt."""

from __future__ import annotations

import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

import ledger
from desk.models import DeskAudit
from identity import create_user
from machipay.auth import Role
from machipay.settings import Settings
from machipay.timeutil import to_tokyo, utcnow
from settlement.models import Payout
from tests.api.campaign_kit import balance, open_ward
from tests.api.conftest import ResidentHandle, register, top_up
from tests.api.shops import open_shop, staff_token, sticker_payload
from tests.api.test_payments import pay
from tests.api.test_settlement import read_zengin
from tests.test_cli import run_cli

BANK = {
    "bank_code": "0005",
    "branch_code": "135",
    "account_type": "ordinary",
    "account_number": "７６５４３２１",  # as an IME types it: NFKC makes it ASCII
    "account_name_kana": "ヤマダ ハナコ",
}


async def desk_staff(
    client: httpx.AsyncClient,
    app: FastAPI,
    name: str = "窓口 太郎",
    office: str = "北沢まちづくりセンター",
) -> dict[str, str]:
    """A member of desk staff with a display name and an office, signed in."""
    from desk import set_staff_card

    username, password = f"desk-{uuid.uuid4().hex[:8]}", "staff-passphrase-123"
    async with app.state.sessionmaker() as session:
        user = await create_user(session, username=username, password=password, role=Role.DESK)
        await set_staff_card(session, user.id, display_name=name, office=office)
        await session.commit()
    token = await client.post(
        "/api/v1/auth/token", json={"username": username, "password": password}
    )
    assert token.status_code == 200, token.text
    return {"Authorization": f"Bearer {token.json()['access_token']}"}


async def look_up(
    client: httpx.AsyncClient, staff: dict[str, str], **params: str
) -> httpx.Response:
    return await client.get("/api/v1/desk/residents", params=params, headers=staff)


async def audit_rows(app: FastAPI) -> list[DeskAudit]:
    async with app.state.sessionmaker() as session:
        return list((await session.execute(select(DeskAudit).order_by(DeskAudit.id))).scalars())


async def test_look_ups_need_a_reason_are_audited_and_the_resident_sees_them(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    staff = await desk_staff(client, app)
    resident = await register(client, name="山田 花子")
    assert (await top_up(client, resident.wallet_id, 3_000)).status_code == 200

    for params in (
        {"phone": resident.phone},
        {"phone": resident.phone, "reason": "   "},
        {"phone": resident.phone, "reason": "ab"},
    ):
        refused = await look_up(client, staff, **params)
        assert refused.status_code == 422, (params, refused.text)
    assert await audit_rows(app) == []  # refused before anything was looked at

    # Full-width digits, as an IME types them, find the same resident.
    wide = resident.phone.translate(str.maketrans("0123456789-", "０１２３４５６７８９ー"))
    hit = await look_up(client, staff, phone=wide, reason="ご本人来庁・残高照会")
    assert hit.status_code == 200, hit.text
    summary = hit.json()
    assert summary["wallet_id"] == resident.wallet_id
    assert summary["name"] == "山＊ 花＊" and "****" in summary["phone"]
    assert (summary["status"], summary["money"], summary["points"]) == ("active", 3_000, 0)
    assert summary["district"] == "kitazawa"
    assert summary["phone_verified"] is True
    assert summary["phone_verified_at"].endswith("+09:00")  # Tokyo time, as the desk reads it
    assert [line["kind"] for line in summary["history"]] == ["topup"]
    # A resident who never entered the SMS code: the desk sees it, and why money won't move.
    pending = await register(client, verify=False)
    unverified = await look_up(client, staff, phone=pending.phone, reason="ご本人来庁・残高照会")
    assert unverified.status_code == 200, unverified.text
    assert (unverified.json()["phone_verified"], unverified.json()["phone_verified_at"]) == (
        False,
        None,
    )
    by_wallet = await look_up(
        client, staff, wallet_id=resident.wallet_id, reason="電話でのお問合せ"
    )
    assert by_wallet.status_code == 200 and by_wallet.json()["id"] == resident.id
    miss = await look_up(client, staff, phone="080-9999-0001", reason="ご本人来庁・残高照会")
    assert miss.status_code == 404 and miss.json()["type"].endswith("/desk-nobody-found")

    rows = await audit_rows(app)
    assert [(r.action, r.searched_by, r.resident_id) for r in rows] == [
        ("lookup", "phone", resident.id),
        ("lookup", "phone", pending.id),
        ("lookup", "wallet_id", resident.id),
        ("lookup", "phone", None),  # the miss is audited too
    ]
    assert rows[3].searched_value == "+818099990001" and rows[0].reason == "ご本人来庁・残高照会"

    # Other roles may not look anybody up.
    for role in (Role.OFFICER, Role.OPERATOR, Role.APPROVER):
        other = await look_up(
            client,
            await staff_token(client, app, role),
            phone=resident.phone,
            reason="のぞき見です",
        )
        assert other.status_code == 403
    assert (
        await look_up(client, resident.headers, phone=resident.phone, reason="のぞき見")
    ).status_code == 403

    log = await client.get("/api/v1/wallet/access-log", headers=resident.headers)
    assert log.status_code == 200, log.text
    items = log.json()["items"]
    assert [(i["action"], i["reason"]) for i in items] == [
        ("lookup", "電話でのお問合せ"),
        ("lookup", "ご本人来庁・残高照会"),
    ]
    assert {i["staff"] for i in items} == {"窓口 太郎"}  # the display name, never the login
    assert {i["office"] for i in items} == {"北沢まちづくりセンター"}
    assert not any("desk-" in str(i) for i in items)

    # The audit is append-only, whoever tries.
    async with app.state.sessionmaker() as session:
        with pytest.raises(DBAPIError, match="append-only"):
            await session.execute(text("UPDATE desk_audit SET reason = 'x'"))
        await session.rollback()
        with pytest.raises(DBAPIError, match="append-only"):
            await session.execute(text("DELETE FROM desk_audit"))
        await session.rollback()


async def test_look_ups_are_rate_limited_per_desk_user(
    client: httpx.AsyncClient, app: FastAPI, app_settings: Settings
) -> None:
    staff, colleague = await desk_staff(client, app), await desk_staff(client, app)
    resident = await register(client)
    for _ in range(app_settings.desk_lookups_per_minute):
        ok = await look_up(client, staff, wallet_id=resident.wallet_id, reason="ご本人来庁")
        assert ok.status_code == 200
    over = await look_up(client, staff, wallet_id=resident.wallet_id, reason="ご本人来庁")
    assert over.status_code == 429
    assert (
        await look_up(client, colleague, wallet_id=resident.wallet_id, reason="ご本人来庁")
    ).status_code == 200


async def money_of(client: httpx.AsyncClient, resident: ResidentHandle) -> int:
    return int((await client.get("/api/v1/wallet", headers=resident.headers)).json()["money"])


async def test_a_frozen_wallet_cannot_pay_send_or_take_a_code_but_takes_top_ups(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    staff = await desk_staff(client, app)
    shop = await open_shop(client, app)
    payload = await sticker_payload(client, shop)
    resident, friend = await register(client), await register(client)
    assert (await top_up(client, resident.wallet_id, 10_000)).status_code == 200
    code = await client.post("/api/v1/wallet/one-time-code", headers=resident.headers)
    assert code.status_code == 201  # taken before the freeze

    needs_reason = await client.post(
        f"/api/v1/desk/residents/{resident.id}/freeze", json={"reason": ""}, headers=staff
    )
    assert needs_reason.status_code == 422
    frozen = await client.post(
        f"/api/v1/desk/residents/{resident.id}/freeze",
        json={"reason": "スマホ紛失の届出"},
        headers=staff,
    )
    assert frozen.status_code == 200, frozen.text
    assert frozen.json()["status"] == "frozen"

    def is_frozen(response: httpx.Response) -> bool:
        return response.status_code == 403 and response.json()["type"].endswith("/wallet-frozen")

    assert is_frozen(await pay(client, resident, payload, 500))
    assert is_frozen(
        await client.post(
            "/api/v1/transfers",
            json={"to_phone": friend.phone, "amount": 1_000},
            headers=resident.headers | {"Idempotency-Key": uuid.uuid4().hex},
        )
    )
    assert is_frozen(await client.post("/api/v1/wallet/one-time-code", headers=resident.headers))
    # A code taken before the freeze does not pay either: the capture passes the gate.
    captured = await client.post(
        "/api/v1/merchant/cpm-payments",
        json={"code": code.json()["code"], "amount": 500},
        headers=shop.headers | {"Idempotency-Key": uuid.uuid4().hex},
    )
    assert is_frozen(captured)
    # Money still comes in; money sent to a frozen wallet is refused as for an unknown number.
    assert (await top_up(client, resident.wallet_id, 2_000)).status_code == 200
    assert (await top_up(client, friend.wallet_id, 5_000)).status_code == 200
    to_frozen = await client.post(
        "/api/v1/transfers",
        json={"to_phone": resident.phone, "amount": 1_000},
        headers=friend.headers | {"Idempotency-Key": uuid.uuid4().hex},
    )
    assert to_frozen.status_code == 422
    assert to_frozen.json()["type"].endswith("/recipient-cannot-receive")
    assert await money_of(client, resident) == 12_000

    # The database refuses too: the payer's lock function stops a frozen wallet.
    async with app.state.sessionmaker() as session:
        with pytest.raises(DBAPIError, match="no money leaves it"):
            await session.execute(
                text("SELECT * FROM wallet_lock_lots(:r, now())"), {"r": resident.id}
            )

    again = await client.post(
        f"/api/v1/desk/residents/{resident.id}/freeze", json={"reason": "二重操作"}, headers=staff
    )
    assert again.status_code == 409
    unfrozen = await client.post(
        f"/api/v1/desk/residents/{resident.id}/unfreeze",
        json={"reason": "スマホが見つかった"},
        headers=staff,
    )
    assert unfrozen.status_code == 200 and unfrozen.json()["status"] == "active"
    assert (await pay(client, resident, payload, 500)).status_code == 201
    sent = await client.post(
        "/api/v1/transfers",
        json={"to_phone": friend.phone, "amount": 1_000},
        headers=resident.headers | {"Idempotency-Key": uuid.uuid4().hex},
    )
    assert sent.status_code == 201, sent.text
    assert (
        await client.post("/api/v1/wallet/one-time-code", headers=resident.headers)
    ).status_code == 201
    assert await money_of(client, resident) == 10_500
    actions = [(r.action, r.reason) for r in await audit_rows(app)]
    assert actions == [("freeze", "スマホ紛失の届出"), ("unfreeze", "スマホが見つかった")]


async def test_a_move_within_the_ward_changes_the_district_audited(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    staff = await desk_staff(client, app)
    resident = await register(client, district="kitazawa")
    districts = [d["id"] for d in (await client.get("/api/v1/districts")).json()]
    target = next(d for d in districts if d != "kitazawa")
    moved = await client.post(
        f"/api/v1/desk/residents/{resident.id}/district",
        json={"district": target, "reason": "転居届の提出"},
        headers=staff,
    )
    assert moved.status_code == 200, moved.text
    assert moved.json()["district"] == target
    unknown = await client.post(
        f"/api/v1/desk/residents/{resident.id}/district",
        json={"district": "atlantis", "reason": "転居届の提出"},
        headers=staff,
    )
    assert unknown.status_code == 422
    (row,) = await audit_rows(app)
    assert (row.action, row.detail) == ("district", {"from": "kitazawa", "to": target})


async def test_closing_a_wallet_takes_two_people_and_refunds_in_the_next_zengin_file(
    client: httpx.AsyncClient,
    app: FastAPI,
    app_settings: Settings,
    database_url: str,
    tmp_path: Path,
) -> None:
    requester, colleague = await desk_staff(client, app), await desk_staff(client, app, "窓口 次郎")
    ward = await open_ward(client, app)
    campaign = await ward.launch()
    shop = await ward.shop()
    payload = await sticker_payload(client, shop)
    resident = await register(client)
    assert (await top_up(client, resident.wallet_id, 8_000)).status_code == 200
    assert (await pay(client, resident, payload, 1_000)).status_code == 201  # 300 points back
    before = (
        await look_up(client, requester, wallet_id=resident.wallet_id, reason="解約の申出")
    ).json()
    assert (before["money"], before["points"]) == (7_000, 300)

    bad_bank = await client.post(
        f"/api/v1/desk/residents/{resident.id}/closure",
        json={"reason": "転出のため解約", "bank": BANK | {"account_name_kana": "山田花子"}},
        headers=requester,
    )
    assert bad_bank.status_code == 422  # kanji cannot go in a Zengin file
    requested = await client.post(
        f"/api/v1/desk/residents/{resident.id}/closure",
        json={"reason": "転出のため解約", "bank": BANK},
        headers=requester,
    )
    assert requested.status_code == 201, requested.text
    closure = requested.json()
    assert closure["status"] == "pending"
    twice = await client.post(
        f"/api/v1/desk/residents/{resident.id}/closure",
        json={"reason": "転出のため解約", "bank": BANK},
        headers=colleague,
    )
    assert twice.status_code == 409

    pending = await client.get("/api/v1/desk/closures", headers=colleague)
    assert [c["id"] for c in pending.json()] == [closure["id"]]
    self_approval = await client.post(
        f"/api/v1/desk/closures/{closure['id']}/approve", headers=requester
    )
    assert self_approval.status_code == 403
    assert self_approval.json()["type"].endswith("/closure-self-approval")
    officer = await client.post(
        f"/api/v1/desk/closures/{closure['id']}/approve", headers=ward.officer
    )
    assert officer.status_code == 403  # an officer is neither desk nor approver
    approved = await client.post(
        f"/api/v1/desk/closures/{closure['id']}/approve", headers=colleague
    )
    assert approved.status_code == 200, approved.text
    done = approved.json()
    assert (done["status"], done["refund"], done["points_forfeited"]) == ("approved", 7_000, 300)
    replay = await client.post(f"/api/v1/desk/closures/{closure['id']}/approve", headers=colleague)
    assert replay.status_code == 409

    assert await balance(app, ledger.resident_money(resident.id)) == 0
    assert await balance(app, ledger.resident_points(resident.id)) == 0
    assert await balance(app, ledger.resident_refund(resident.id)) == 7_000
    assert await balance(app, ledger.campaign_breakage(campaign["id"])) == 300

    # The old login is refused, its token too; the number is free for a new registration.
    assert (await client.get("/api/v1/wallet", headers=resident.headers)).status_code == 401
    old_login = await client.post(
        "/api/v1/auth/token", json={"username": resident.phone, "password": resident.password}
    )
    assert old_login.status_code == 401
    again = await client.post(
        "/api/v1/residents",
        json={
            "phone": resident.phone,
            "password": "a-new-passphrase-42",
            "display_name": "新しい 利用者",
            "birth_year": 1990,
            "district": "kitazawa",
        },
    )
    assert again.status_code == 201, again.text
    assert again.json()["wallet_id"] != resident.wallet_id
    closed = (
        await look_up(client, colleague, wallet_id=resident.wallet_id, reason="解約後の確認")
    ).json()
    assert (closed["status"], closed["phone"], closed["money"]) == ("closed", None, 0)
    assert closed["closures"][0]["payout_status"] == "pending"

    # The refund goes out in the next Zengin file, to the account as given.
    out = tmp_path / "zengin.txt"
    made = run_cli(
        "payout",
        "--format",
        "zengin",
        "--out",
        str(out),
        "--transfer-date",
        "2026-12-07",
        database_url=database_url,
        redis_url=app_settings.redis_url,
    )
    assert made.returncode == 0, made.stderr
    _, *data, trailer, _ = read_zengin(out.read_bytes())
    assert int(trailer["total"]) == sum(int(d["amount"]) for d in data)
    async with app.state.sessionmaker() as session:
        payout = (
            await session.execute(select(Payout).where(Payout.resident_id == resident.id))
        ).scalar_one()
    (record,) = [d for d in data if d["customer1"] == str(payout.id).zfill(10)]
    assert record["amount"] == "0000007000"
    assert (record["bank"], record["branch"], record["account"]) == ("0005", "135", "7654321")
    assert record["name"] == "ﾔﾏﾀﾞ ﾊﾅｺ"
    assert record["customer2"] == str(resident.id).zfill(10)

    # The bank confirms (one operator imports, a second confirms): the refund leaves the books.
    operator = await staff_token(client, app, Role.OPERATOR)
    second = await staff_token(client, app, Role.OPERATOR)
    settlement_before = await balance(app, ledger.BANK_SETTLEMENT)
    imported = await client.post(
        "/api/v1/payouts/results",
        content=f"payout_id,result\n{payout.id},paid\n".encode(),
        headers=operator | {"Content-Type": "text/csv"},
    )
    assert imported.status_code == 200, imported.text
    confirmed = await client.post(
        f"/api/v1/payouts/results/{imported.json()['import_id']}/confirm", headers=second
    )
    assert confirmed.status_code == 200, confirmed.text
    assert await balance(app, ledger.resident_refund(resident.id)) == 0
    assert await balance(app, ledger.BANK_SETTLEMENT) == settlement_before - 7_000
    verified = run_cli("verify", database_url=database_url)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    await ward.end_all()


async def test_a_failed_refund_comes_back_and_a_new_closure_sends_it_again(
    client: httpx.AsyncClient, app: FastAPI, app_settings: Settings
) -> None:
    requester, colleague = await desk_staff(client, app), await desk_staff(client, app)
    approver = await staff_token(client, app, Role.APPROVER)
    resident = await register(client)
    assert (await top_up(client, resident.wallet_id, 4_000)).status_code == 200

    async def close_and_send(bank: dict[str, Any]) -> int:
        asked = await client.post(
            f"/api/v1/desk/residents/{resident.id}/closure",
            json={"reason": "解約の申出", "bank": bank},
            headers=requester,
        )
        assert asked.status_code == 201, asked.text
        approved = await client.post(
            f"/api/v1/desk/closures/{asked.json()['id']}/approve", headers=approver
        )
        assert approved.status_code == 200, approved.text
        made = await client.post(
            "/api/v1/payout-files", json={"transfer_date": "2026-12-07"}, headers=operator
        )
        assert made.status_code in (200, 201), made.text
        return int(approved.json()["payout_id"])

    operator = await staff_token(client, app, Role.OPERATOR)
    payout_id = await close_and_send(BANK)
    imported = await client.post(
        "/api/v1/payouts/results",
        content=f"payout_id,result,reason\n{payout_id},failed,口座なし\n".encode(),
        headers=operator | {"Content-Type": "text/csv"},
    )
    confirm = await client.post(
        f"/api/v1/payouts/results/{imported.json()['import_id']}/confirm",
        headers=await staff_token(client, app, Role.OPERATOR),
    )
    assert confirm.status_code == 200, confirm.text
    assert await balance(app, ledger.resident_money(resident.id)) == 4_000  # back, owed again
    assert await balance(app, ledger.resident_refund(resident.id)) == 0
    summary = (
        await look_up(client, colleague, wallet_id=resident.wallet_id, reason="返金不能の確認")
    ).json()
    assert summary["status"] == "closed" and summary["closures"][0]["payout_status"] == "failed"
    # The money's return is a line of the wallet's history, with the bank's reason.
    back = summary["history"][0]
    assert (back["kind"], back["money_change"], back["amount"]) == (
        "closure_refund_back",
        4_000,
        4_000,
    )
    assert [line["kind"] for line in summary["history"][:2]] == [
        "closure_refund_back",
        "closure_refund",
    ]
    async with app.state.sessionmaker() as session:
        message = await session.scalar(
            text(
                "SELECT message FROM wallet_transactions"
                " WHERE resident_id = :r AND kind = 'closure_refund_back'"
            ),
            {"r": resident.id},
        )
    assert message is not None and "口座なし" in message and "残高に戻りました" in message
    # Re-importing the same answer changes nothing: still one line.
    again = await client.post(
        "/api/v1/payouts/results",
        content=f"payout_id,result,reason\n{payout_id},failed,口座なし\n".encode(),
        headers=operator | {"Content-Type": "text/csv"},
    )
    assert again.status_code in (200, 201), again.text
    reconfirmed = await client.post(
        f"/api/v1/payouts/results/{again.json()['import_id']}/confirm",
        headers=await staff_token(client, app, Role.OPERATOR),
    )
    assert reconfirmed.status_code == 200, reconfirmed.text
    async with app.state.sessionmaker() as session:
        lines = await session.scalar(
            text(
                "SELECT count(*) FROM wallet_transactions"
                " WHERE resident_id = :r AND kind = 'closure_refund_back'"
            ),
            {"r": resident.id},
        )
    assert lines == 1
    # A closed wallet takes no money in.
    assert (await top_up(client, resident.wallet_id, 1_000)).status_code == 403

    second_payout = await close_and_send(BANK | {"account_number": "1111111"})
    assert second_payout != payout_id
    assert await balance(app, ledger.resident_money(resident.id)) == 0
    assert await balance(app, ledger.resident_refund(resident.id)) == 4_000


async def test_cash_top_up_is_idempotent_bounded_and_prints_a_receipt(
    client: httpx.AsyncClient, app: FastAPI, app_settings: Settings
) -> None:
    staff = await desk_staff(client, app)
    resident = await register(client)
    key = uuid.uuid4().hex
    body = {"wallet_id": resident.wallet_id, "amount": 5_000, "reason": "窓口で現金チャージ"}

    first = await client.post(
        "/api/v1/desk/top-ups", json=body, headers=staff | {"Idempotency-Key": key}
    )
    assert first.status_code == 201, first.text
    again = await client.post(
        "/api/v1/desk/top-ups", json=body, headers=staff | {"Idempotency-Key": key}
    )
    assert again.status_code == 201 and again.json() == first.json()
    other = await client.post(
        "/api/v1/desk/top-ups",
        json=body | {"amount": 6_000},
        headers=staff | {"Idempotency-Key": key},
    )
    assert other.status_code == 422  # the same key with another body
    assert await money_of(client, resident) == 5_000
    no_key = await client.post("/api/v1/desk/top-ups", json=body, headers=staff)
    assert no_key.status_code in (400, 422)
    for amount in (app_settings.desk_top_up_min - 1, app_settings.desk_top_up_max + 1):
        bounded = await client.post(
            "/api/v1/desk/top-ups",
            json=body | {"amount": amount},
            headers=staff | {"Idempotency-Key": uuid.uuid4().hex},
        )
        assert bounded.status_code == 422, amount
    officer = await staff_token(client, app, Role.OFFICER)
    assert (
        await client.post(
            "/api/v1/desk/top-ups",
            json=body,
            headers=officer | {"Idempotency-Key": uuid.uuid4().hex},
        )
    ).status_code == 403

    history = (await client.get("/api/v1/wallet/transactions", headers=resident.headers)).json()
    assert [(i["kind"], i["amount"], i["counterparty"]) for i in history["items"]] == [
        ("topup", 5_000, "desk")
    ]
    made = first.json()
    receipt = await client.get(made["receipt_url"], headers=staff)
    assert receipt.status_code == 200 and receipt.headers["content-type"].startswith("text/html")
    page = receipt.text
    for expected in (
        "領収書",
        resident.wallet_id,
        "¥5,000",
        made["id"],
        "北沢まちづくりセンター",
        "窓口 太郎",
    ):
        assert expected in page, expected
    assert (await client.get(made["receipt_url"], headers=resident.headers)).status_code == 403
    log = (await client.get("/api/v1/wallet/access-log", headers=resident.headers)).json()
    assert [i["action"] for i in log["items"]] == ["top_up"]


async def test_a_day_end_cash_up_takes_a_second_person_and_records_the_difference(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    counter, elsewhere = (
        f"北沢総合支所-{uuid.uuid4().hex[:6]}",
        f"砧総合支所-{uuid.uuid4().hex[:6]}",
    )
    clerk = await desk_staff(client, app, "窓口 太郎", counter)
    colleague = await desk_staff(client, app, "窓口 次郎", counter)
    other_clerk = await desk_staff(client, app, "窓口 三郎", elsewhere)
    resident = await register(client)

    async def take(staff: dict[str, str], amount: int) -> None:
        taken = await client.post(
            "/api/v1/desk/top-ups",
            json={
                "wallet_id": resident.wallet_id,
                "amount": amount,
                "reason": "窓口で現金チャージ",
            },
            headers=staff | {"Idempotency-Key": uuid.uuid4().hex},
        )
        assert taken.status_code == 201, taken.text

    await take(clerk, 5_000)
    await take(colleague, 3_000)
    await take(other_clerk, 2_000)  # another counter's drawer
    today = to_tokyo(utcnow()).date()

    declared = await client.post(
        "/api/v1/desk/cash-ups",
        json={"day": today.isoformat(), "counted": 7_500, "note": "千円札1枚不足か"},
        headers=clerk,
    )
    assert declared.status_code == 201, declared.text
    cash_up = declared.json()
    assert (cash_up["office"], cash_up["status"], cash_up["counted"]) == (
        counter,
        "declared",
        7_500,
    )
    assert cash_up["expected"] is None and cash_up["difference"] is None  # a blind count
    # One per counter and day; not for tomorrow; a negative count is no count.
    again = await client.post(
        "/api/v1/desk/cash-ups",
        json={"day": today.isoformat(), "counted": 8_000},
        headers=colleague,
    )
    assert again.status_code == 409 and again.json()["type"].endswith("/desk-cash-up-conflict")
    for day, counted in ((today + timedelta(days=1), 0), (today, -1)):
        refused = await client.post(
            "/api/v1/desk/cash-ups",
            json={"day": day.isoformat(), "counted": counted},
            headers=other_clerk,
        )
        assert refused.status_code == 422, refused.text

    confirm = f"/api/v1/desk/cash-ups/{cash_up['id']}/confirm"
    own = await client.post(confirm, headers=clerk)
    assert own.status_code == 403 and own.json()["type"].endswith("/desk-cash-up-self-confirm")
    for outsider in (resident.headers, await staff_token(client, app, Role.OPERATOR)):
        assert (await client.post(confirm, headers=outsider)).status_code == 403
    waiting = await client.get("/api/v1/desk/cash-ups?status=declared", headers=colleague)
    assert cash_up["id"] in [c["id"] for c in waiting.json()]

    confirmed = await client.post(confirm, headers=colleague)
    assert confirmed.status_code == 200, confirmed.text
    done = confirmed.json()
    assert (done["status"], done["expected"], done["top_ups"], done["difference"]) == (
        "confirmed",
        8_000,
        2,
        -500,  # 不足 ¥500
    )
    assert (await client.post(confirm, headers=colleague)).status_code == 409

    # An officer may be the second person too; a drawer that matches has no difference.
    other = await client.post(
        "/api/v1/desk/cash-ups",
        json={"day": today.isoformat(), "counted": 2_000},
        headers=other_clerk,
    )
    officer = await staff_token(client, app, Role.OFFICER)
    by_officer = await client.post(
        f"/api/v1/desk/cash-ups/{other.json()['id']}/confirm", headers=officer
    )
    assert by_officer.status_code == 200, by_officer.text
    assert (by_officer.json()["expected"], by_officer.json()["difference"]) == (2_000, 0)

    # Both steps are in the append-only audit, the difference with them.
    rows = [r for r in await audit_rows(app) if r.action in ("cash_declare", "cash_confirm")]
    mine = [r for r in rows if (r.detail or {}).get("cash_up_id") == cash_up["id"]]
    assert [r.action for r in mine] == ["cash_declare", "cash_confirm"]
    assert mine[1].detail is not None
    assert (mine[1].detail["expected"], mine[1].detail["difference"]) == (8_000, -500)
    async with app.state.sessionmaker() as session:
        with pytest.raises(DBAPIError, match="append-only"):
            await session.execute(
                text("UPDATE desk_audit SET detail = NULL WHERE action = 'cash_confirm'")
            )
        await session.rollback()
