"""Shops join by themselves (issue 22 item 3): the application's new fields, an officer's
whole view of it, a refusal with a reason the applicant reads, and the ward's CSV import
(dry run, row-level errors, all or nothing, idempotent, Shift_JIS)."""

from __future__ import annotations

import asyncio
import uuid

import httpx
from fastapi import FastAPI

from machipay.auth import Role
from tests.api.conftest import new_phone
from tests.api.shops import application, staff_token
from tests.sms import last_code

PROBLEM = "application/problem+json"
PASSWORD = "owner-passphrase-123"


async def sign_in(client: httpx.AsyncClient, username: str) -> dict[str, str]:
    token = await client.post(
        "/api/v1/auth/token", json={"username": username, "password": PASSWORD}
    )
    assert token.status_code == 200, token.text
    return {"Authorization": f"Bearer {token.json()['access_token']}"}


async def apply_with_details(client: httpx.AsyncClient) -> tuple[int, str]:
    owner = f"shop-{uuid.uuid4().hex[:10]}"
    body = application(
        owner,
        latitude=35.661234,
        longitude=139.668765,
        opening_hours="１０:００〜１９:００ 水曜定休",
        phone="03-1234-5678",
        consent=True,
        owner_phone="090-1234-5678",
    )
    applied = await client.post("/api/v1/merchants", json=body)
    assert applied.status_code == 201, applied.text
    return applied.json()["id"], owner


async def test_an_officer_sees_the_whole_application(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    merchant_id, owner = await apply_with_details(client)
    officer = await staff_token(client, app, Role.OFFICER)
    seen = await client.get(f"/api/v1/merchants/{merchant_id}", headers=officer)
    assert seen.status_code == 200, seen.text
    detail = seen.json()
    assert detail["bank"] == {
        "bank_code": "0001",
        "branch_code": "123",
        "account_type": "ordinary",
        "account_number": "1234567",
        "account_name_kana": "シモキタザワ ヤオヤ",  # NFKC
    }
    assert detail["owner_username"] == owner
    assert detail["owner_phone"] == "+819012345678"
    assert detail["phone"] == "+81312345678"
    assert detail["location"] == {"lat": 35.661234, "lon": 139.668765}
    assert detail["opening_hours"] == "10:00〜19:00 水曜定休"  # NFKC
    assert detail["consented_at"] is not None
    # Residents, shops and anyone signed out do not read it.
    shop = await sign_in(client, owner)
    assert (await client.get(f"/api/v1/merchants/{merchant_id}", headers=shop)).status_code == 403
    missing = await client.get("/api/v1/merchants/999999999", headers=officer)
    assert missing.status_code == 404


async def test_application_fields_are_checked(client: httpx.AsyncClient) -> None:
    def owner() -> str:
        return f"shop-{uuid.uuid4().hex[:10]}"

    refused = [
        application(owner(), consent=False),
        application(owner(), latitude=35.66),  # no longitude
        application(owner(), latitude=10.0, longitude=139.6),  # not in Japan
        application(owner(), phone="12345"),
        application(owner(), opening_hours="x" * 201),
        application(owner(), opening_hours="10時\u202e"),  # a format character
    ]
    for body in refused:
        answer = await client.post("/api/v1/merchants", json=body)
        assert answer.status_code == 422, (body, answer.text)
        assert answer.headers["content-type"] == PROBLEM


async def test_a_refused_application_shows_its_reason_and_never_opens(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    merchant_id, owner = await apply_with_details(client)
    officer = await staff_token(client, app, Role.OFFICER)
    shop = await sign_in(client, owner)
    pending = await client.get("/api/v1/merchant/application", headers=shop)
    assert pending.status_code == 200, pending.text
    assert pending.json()["status"] == "pending"
    assert pending.json()["rejection_reason"] is None
    # A reason is required, bounded and free of control characters.
    for body in ({}, {"reason": ""}, {"reason": "x" * 501}, {"reason": "理由\u0007"}):
        bad = await client.post(
            f"/api/v1/merchants/{merchant_id}/reject", json=body, headers=officer
        )
        assert bad.status_code == 422, (body, bad.text)
    # Only staff refuse.
    assert (
        await client.post(
            f"/api/v1/merchants/{merchant_id}/reject", json={"reason": "x"}, headers=shop
        )
    ).status_code == 403
    reason = "口座名義が店名・代表者名と一致しません。通帳の写しを添えて再申請してください。"
    done = await client.post(
        f"/api/v1/merchants/{merchant_id}/reject", json={"reason": reason}, headers=officer
    )
    assert done.status_code == 200, done.text
    assert done.json()["status"] == "rejected"
    status = (await client.get("/api/v1/merchant/application", headers=shop)).json()
    assert status["status"] == "rejected"
    assert status["rejection_reason"] == reason
    assert status["rejected_at"] is not None
    detail = (await client.get(f"/api/v1/merchants/{merchant_id}", headers=officer)).json()
    assert detail["rejected_by_name"] is not None and detail["rejection_reason"] == reason
    # It cannot take payments, cannot be refused twice and cannot be approved any more.
    charge = await client.post("/api/v1/merchant/charges", json={"amount": 500}, headers=shop)
    assert charge.status_code == 409, charge.text
    assert (await client.get("/api/v1/merchant/qr", headers=shop)).status_code == 409
    again = await client.post(
        f"/api/v1/merchants/{merchant_id}/reject", json={"reason": "again"}, headers=officer
    )
    assert again.status_code == 409
    assert again.json()["type"].endswith("/merchant-not-pending")
    approve = await client.post(f"/api/v1/merchants/{merchant_id}/approve", headers=officer)
    assert approve.status_code == 409


HEADER = (
    "import_ref,name,name_kana,category,store_type,shopping_street_id,postal_code,address,"
    "owner_username,owner_phone,bank_code,branch_code,account_type,account_number,"
    "account_name_kana,latitude,longitude,opening_hours,phone\n"
)


def shop_row(ref: str, login: str, **changes: str) -> str:
    cells = {
        "import_ref": ref,
        "name": "三軒茶屋 米店",
        "name_kana": "サンゲンジャヤ コメテン",
        "category": "grocery",
        "store_type": "small",
        "shopping_street_id": "1",
        "postal_code": "154-0024",
        "address": "東京都世田谷区三軒茶屋1-2-3",
        "owner_username": login,
        "owner_phone": "090-5555-0101",
        "bank_code": "０００１",  # as Excel users type it: full width
        "branch_code": "123",
        "account_type": "普通",
        "account_number": "7654321",
        "account_name_kana": "ｻﾝｹﾞﾝｼﾞｬﾔｺﾒﾃﾝ",
        "latitude": "35.6431",
        "longitude": "139.6702",
        "opening_hours": "9:00-18:00",
        "phone": "03-3412-0000",
    }
    cells.update(changes)
    return ",".join(cells.values()) + "\n"


async def upload(
    client: httpx.AsyncClient, headers: dict[str, str], body: bytes, *, dry_run: bool
) -> httpx.Response:
    return await client.post(
        "/api/v1/merchants/import",
        params={"dry_run": "true" if dry_run else "false"},
        content=body,
        headers=headers | {"Content-Type": "text/csv"},
    )


async def test_import_dry_run_names_each_bad_cell_and_writes_nothing(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    officer = await staff_token(client, app, Role.OFFICER)
    tag = uuid.uuid4().hex[:8]
    text = (
        HEADER
        + shop_row(f"A{tag}-1", f"imp-{tag}-1")
        + shop_row(f"A{tag}-2", f"imp-{tag}-2", bank_code="12")
        + shop_row(f"A{tag}-3", f"imp-{tag}-3", postal_code="100-0001")
        + shop_row(f"A{tag}-1", f"imp-{tag}-4")  # the same reference as row 2
        + shop_row(f"A{tag}-5", f"imp-{tag}-5", latitude="35.6", longitude="")
    )
    answer = await upload(client, officer, ("\ufeff" + text).encode(), dry_run=True)
    assert answer.status_code == 200, answer.text
    result = answer.json()
    assert result["dry_run"] is True
    assert (result["rows"], result["valid"], result["created"]) == (5, 1, 0)
    assert [(e["row"], e["column"]) for e in result["errors"]] == [
        (3, "bank_code"),
        (4, "postal_code"),
        (5, "import_ref"),
        (6, "latitude"),
    ]
    assert result["errors"][0]["message"] == "金融機関コードは4桁の数字です。"
    assert "2行目" in result["errors"][2]["message"]
    # The real run of the same file writes nothing: all or nothing.
    real = await upload(client, officer, text.encode(), dry_run=False)
    assert real.status_code == 422, real.text
    assert real.json()["type"].endswith("/shop-import-refused")
    assert len(real.json()["errors"]) == 4
    pending = await client.get("/api/v1/merchants?status=pending&limit=500", headers=officer)
    assert not [m for m in pending.json() if m["name"] == "三軒茶屋 米店" and tag in str(m)]
    again = await upload(client, officer, text.encode(), dry_run=True)
    assert again.json()["valid"] == 1  # row 2 was not written by the refused run


async def test_import_creates_pending_shops_once_from_shift_jis(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    officer = await staff_token(client, app, Role.OFFICER)
    tag = uuid.uuid4().hex[:8]
    # Japanese headings and cp932, as the ward's Excel saves a CSV.
    heading = (
        "受付番号,店名,店名カナ,業種,店舗区分,商店街ID,郵便番号,住所,ログインID,代表者電話番号,"
        "金融機関コード,支店コード,口座種別,口座番号,口座名義カナ,緯度,経度,営業時間,電話番号\n"
    )
    rows = [shop_row(f"B{tag}-{i}", f"imp-{tag}-{i}", name=f"米店{i}") for i in range(3)]
    raw = (heading + "".join(rows)).encode("cp932")
    first = await upload(client, officer, raw, dry_run=False)
    assert first.status_code == 200, first.text
    assert (first.json()["created"], first.json()["error_count"]) == (3, 0)
    # The same file again creates nothing; one more row creates one.
    second = await upload(client, officer, raw, dry_run=False)
    assert second.status_code == 200, second.text
    assert (second.json()["created"], second.json()["already_imported"]) == (0, 3)
    more = (heading + "".join(rows) + shop_row(f"B{tag}-9", f"imp-{tag}-9")).encode("cp932")
    third = await upload(client, officer, more, dry_run=False)
    assert (third.json()["created"], third.json()["already_imported"]) == (1, 3)
    # Each is pending, with its bank and owner, and still needs two approvals.
    queue = await client.get("/api/v1/merchants?status=pending&limit=500", headers=officer)
    ours = [m for m in queue.json() if m["name"].startswith("米店")]
    shop = next(m for m in ours if m["name"] == "米店1")
    detail = (await client.get(f"/api/v1/merchants/{shop['id']}", headers=officer)).json()
    assert detail["import_ref"] == f"B{tag}-1"
    assert detail["owner_username"] == f"imp-{tag}-1"
    assert detail["owner_phone"] == "+819055550101"
    assert detail["bank"]["bank_code"] == "0001"
    assert detail["bank"]["account_type"] == "ordinary"
    assert detail["imported_by_name"] is not None
    operator = await staff_token(client, app, Role.OPERATOR)
    first_approval = await client.post(f"/api/v1/merchants/{shop['id']}/approve", headers=operator)
    assert first_approval.json()["awaiting_second_approval"] is True
    # The owner has no password yet: nothing the import knew signs in.
    for guess in ("", PASSWORD, f"imp-{tag}-1"):
        token = await client.post(
            "/api/v1/auth/token", json={"username": f"imp-{tag}-1", "password": guess}
        )
        assert token.status_code in (401, 422), token.text


async def test_import_is_an_officers_and_bounded(client: httpx.AsyncClient, app: FastAPI) -> None:
    officer = await staff_token(client, app, Role.OFFICER)
    operator = await staff_token(client, app, Role.OPERATOR)
    body = (HEADER + shop_row("C1", "imp-c1")).encode()
    assert (await upload(client, operator, body, dry_run=True)).status_code == 403
    assert (await upload(client, {}, body, dry_run=True)).status_code == 401
    too_many = (HEADER + shop_row("C1", "imp-c1") * 5001).encode()
    refused = await upload(client, officer, too_many, dry_run=True)
    assert refused.status_code == 422 and "5,000" in refused.json()["detail"]
    missing = await upload(client, officer, b"import_ref,name\nX,Y\n", dry_run=True)
    assert missing.status_code == 422
    assert "owner_username" in missing.json()["missing_columns"]
    big = b"import_ref," + b"x" * (8 * 1024 * 1024)
    assert (await upload(client, officer, big, dry_run=True)).status_code == 422
    json_body = await client.post("/api/v1/merchants/import", json={"a": 1}, headers=officer)
    assert json_body.status_code == 422


async def test_an_imported_batch_is_approved_by_two_other_people_and_owners_set_a_password(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    importer = await staff_token(client, app, Role.OFFICER)
    tag = uuid.uuid4().hex[:8]
    phone = new_phone()  # a random 090-0xxx number is unallocated: refused one run in ten
    rows = [
        shop_row(f"D{tag}-{i}", f"imp-{tag}-{i}", name=f"酒店{tag}{i}", owner_phone=phone)
        for i in range(3)
    ]
    done = await upload(client, importer, (HEADER + "".join(rows)).encode(), dry_run=False)
    assert done.json()["created"] == 3, done.text
    queue = await client.get("/api/v1/merchants?status=pending&limit=500", headers=importer)
    ids = [m["id"] for m in queue.json() if m["name"].startswith(f"酒店{tag}")]
    assert len(ids) == 3

    async def approve(headers: dict[str, str]) -> dict[str, list[object]]:
        answer = await client.post(
            "/api/v1/merchants/approvals", json={"merchant_ids": ids}, headers=headers
        )
        assert answer.status_code == 200, answer.text
        result: dict[str, list[object]] = answer.json()
        return result

    # The importer approves none of them: the import was their act.
    mine = await approve(importer)
    assert mine["first_approvals"] == [] and mine["activated"] == []
    assert {r["type"].rsplit("/", 1)[1] for r in mine["refused"]} == {"merchant-self-approval"}  # type: ignore[index]
    single = await client.post(f"/api/v1/merchants/{ids[0]}/approve", headers=importer)
    assert single.status_code == 403
    # A second person gives every first approval, and cannot give the second too.
    operator = await staff_token(client, app, Role.OPERATOR)
    assert sorted((await approve(operator))["first_approvals"]) == sorted(ids)  # type: ignore[type-var]
    assert len((await approve(operator))["refused"]) == 3
    # A third opens them.
    other_officer = await staff_token(client, app, Role.OFFICER)
    assert sorted((await approve(other_officer))["activated"]) == sorted(ids)  # type: ignore[type-var]
    # The owner sets a password with a code sent to the phone the import gave.
    login = f"imp-{tag}-1"
    assert (
        await client.post("/api/v1/auth/password-reset", json={"username": login})
    ).status_code == 202
    code = await last_code(client, phone)
    reset = await client.post(
        "/api/v1/auth/password-reset/confirm",
        json={"username": login, "code": code, "new_password": PASSWORD},
    )
    assert reset.status_code == 204, reset.text
    shop = await sign_in(client, login)
    assert (await client.get("/api/v1/merchant", headers=shop)).json()["status"] == "active"
    assert (await client.get("/api/v1/merchant/qr", headers=shop)).status_code == 200


async def test_two_imports_of_one_file_at_once_create_each_shop_once(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    officer = await staff_token(client, app, Role.OFFICER)
    tag = uuid.uuid4().hex[:8]
    body = (
        HEADER
        + "".join(shop_row(f"E{tag}-{i}", f"imp-{tag}-{i}", name=f"茶舗{tag}{i}") for i in range(3))
    ).encode()
    answers = await asyncio.gather(
        *(upload(client, officer, body, dry_run=False) for _ in range(2))
    )
    assert all(a.status_code in (200, 409) for a in answers), [a.text for a in answers]
    assert sum(a.json().get("created", 0) for a in answers if a.status_code == 200) == 3
    for raced in (a for a in answers if a.status_code == 409):
        assert raced.json()["type"].endswith("/shop-import-raced")
    queue = await client.get("/api/v1/merchants?status=pending&limit=500", headers=officer)
    assert len([m for m in queue.json() if m["name"].startswith(f"茶舗{tag}")]) == 3
