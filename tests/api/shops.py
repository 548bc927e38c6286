"""Helpers to open a shop through the real API: apply, approve (two people), sign in."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import httpx
from fastapi import FastAPI

from identity import create_user
from machipay.auth import Role


@dataclass
class ShopHandle:
    id: int
    username: str
    password: str
    access: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access}"}


async def staff_token(client: httpx.AsyncClient, app: FastAPI, role: Role) -> dict[str, str]:
    username, password = f"{role.value}-{uuid.uuid4().hex[:8]}", "staff-passphrase-123"
    async with app.state.sessionmaker() as session:
        await create_user(
            session, username=username.replace("_", "-"), password=password, role=role
        )
        await session.commit()
    token = await client.post(
        "/api/v1/auth/token", json={"username": username.replace("_", "-"), "password": password}
    )
    assert token.status_code == 200, token.text
    return {"Authorization": f"Bearer {token.json()['access_token']}"}


def application(owner: str, **changes: object) -> dict[str, object]:
    body: dict[str, object] = {
        "name": "下北沢八百屋",
        "name_kana": "シモキタザワ ヤオヤ",
        "category": "grocery",
        "store_type": "small",
        "shopping_street_id": 1,
        "postal_code": "155-0031",
        "address": "東京都世田谷区北沢2-1-1",
        "owner_username": owner,
        "owner_password": "owner-passphrase-123",
        "bank": {
            "bank_code": "0001",
            "branch_code": "123",
            "account_type": "ordinary",
            "account_number": "1234567",
            "account_name_kana": "ｼﾓｷﾀｻﾞﾜ ﾔｵﾔ",
        },
    }
    body.update(changes)
    return body


async def open_shop(client: httpx.AsyncClient, app: FastAPI, **changes: object) -> ShopHandle:
    owner = f"shop-{uuid.uuid4().hex[:10]}"
    applied = await client.post("/api/v1/merchants", json=application(owner, **changes))
    assert applied.status_code == 201, applied.text
    merchant_id = applied.json()["id"]
    await approve_shop(client, app, merchant_id)
    token = await client.post(
        "/api/v1/auth/token", json={"username": owner, "password": "owner-passphrase-123"}
    )
    return ShopHandle(merchant_id, owner, "owner-passphrase-123", token.json()["access_token"])


async def approve_shop(client: httpx.AsyncClient, app: FastAPI, merchant_id: int) -> None:
    """Two people approve a shop: an officer, then an operator."""
    for role in (Role.OFFICER, Role.OPERATOR):
        staff = await staff_token(client, app, role)
        approved = await client.post(f"/api/v1/merchants/{merchant_id}/approve", headers=staff)
        assert approved.status_code == 200, approved.text
    assert approved.json()["status"] == "active"


async def sticker_payload(client: httpx.AsyncClient, shop: ShopHandle) -> str:
    response = await client.get(
        "/api/v1/merchant/qr", params={"format": "payload"}, headers=shop.headers
    )
    assert response.status_code == 200, response.text
    return response.text
