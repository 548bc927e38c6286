"""loadtest.http_floor's load: users posting a payment-sized request non-stop to one path."""

from __future__ import annotations

import os
import random
import uuid

from locust import FastHttpUser, constant, task

PATH = os.environ.get("MACHIPAY_FLOOR_PATH", "/raw")
# As long as a resident's access token (332 characters) and a sticker's EMVCo payload.
TOKEN = "Bearer " + "x" * 332
PAYLOAD = "000201010211" + "y" * 170


class Payer(FastHttpUser):
    wait_time = constant(0)

    @task
    def pay(self) -> None:
        self.client.post(
            PATH,
            json={"qr_payload": PAYLOAD, "amount": random.randint(100, 5000)},
            headers={"Authorization": TOKEN, "Idempotency-Key": uuid.uuid4().hex},
            name="pay",
        )
