"""Helpers to run campaigns through the real API, each test on its own shopping street.

Tests share one database per run, so a campaign covers only shops of a street created for
the test (or is ended when the test is done): no campaign leaks rewards into other tests.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import httpx
from fastapi import FastAPI

import ledger
from machipay.auth import Role
from machipay.timeutil import utcnow
from tests.api.shops import ShopHandle, open_shop, staff_token


@dataclass
class Ward:
    """An officer and an approver (two different people), and a street of their own."""

    client: httpx.AsyncClient
    app: FastAPI
    officer: dict[str, str]
    approver: dict[str, str]
    street_id: int
    launched: list[int] = field(default_factory=list)

    async def shop(self, **changes: Any) -> ShopHandle:
        changes.setdefault("shopping_street_id", self.street_id)
        return await open_shop(self.client, self.app, **changes)

    def body(self, **changes: Any) -> dict[str, Any]:
        now = utcnow()
        body: dict[str, Any] = {
            "name": f"テスト30%還元 {uuid.uuid4().hex[:6]}",
            "starts_at": iso(now - timedelta(minutes=5)),
            "ends_at": iso(now + timedelta(days=30)),
            "resident_rate_bp": 3000,
            "merchant_rate_bp": 500,
            "budget": 1_000_000,
            "per_payment_cap": None,
            "per_resident_cap": None,
            "per_resident_monthly_cap": None,
            "min_payment": 0,
            "grant": "immediate",
            "points_expiry_days": 180,
            "eligibility": {"shopping_street_ids": [self.street_id]},
            "tiers": [],
        }
        body.update(changes)
        return body

    async def draft(self, **changes: Any) -> dict[str, Any]:
        response = await self.client.post(
            "/api/v1/campaigns", json=self.body(**changes), headers=self.officer
        )
        assert response.status_code == 201, response.text
        return dict(response.json())

    async def launch(self, **changes: Any) -> dict[str, Any]:
        """Draft, submit (officer) and approve (approver): the campaign is funded."""
        campaign = await self.draft(**changes)
        submitted = await self.client.post(
            f"/api/v1/campaigns/{campaign['id']}/submit", headers=self.officer
        )
        assert submitted.status_code == 200, submitted.text
        approved = await self.client.post(
            f"/api/v1/campaigns/{campaign['id']}/approve", headers=self.approver
        )
        assert approved.status_code == 200, approved.text
        self.launched.append(campaign["id"])
        return dict(approved.json())

    async def get(self, campaign_id: int) -> dict[str, Any]:
        response = await self.client.get(f"/api/v1/campaigns/{campaign_id}", headers=self.officer)
        assert response.status_code == 200, response.text
        return dict(response.json())

    async def end_all(self) -> None:
        for campaign_id in self.launched:
            await self.client.post(f"/api/v1/campaigns/{campaign_id}/end", headers=self.officer)


def iso(moment: datetime) -> str:
    return moment.isoformat()


async def open_ward(client: httpx.AsyncClient, app: FastAPI) -> Ward:
    officer = await staff_token(client, app, Role.OFFICER)
    approver = await staff_token(client, app, Role.APPROVER)
    street = await client.post(
        "/api/v1/shopping-streets",
        json={
            "name": f"テスト商店街{uuid.uuid4().hex[:8]}",
            "name_en": f"Test Street {uuid.uuid4().hex[:8]}",
            "district_id": "kitazawa",
        },
        headers=officer,
    )
    assert street.status_code == 201, street.text
    return Ward(client, app, officer, approver, int(street.json()["id"]))


async def balance(app: FastAPI, code: str) -> int:
    async with app.state.sessionmaker() as session:
        return await ledger.get_balance(session, code)
