"""The first morning of a 30 % campaign, as locust users.

Run against a server seeded with ``machipay seed`` (its logins file says who can sign in
and which QR codes hang in which shop)::

    locust -f loadtest/locustfile.py --host http://127.0.0.1:8000 \\
        --headless -u 200 -r 50 -t 2m --csv var/load

The mix (weights): residents who open the wallet, scan a shop's sticker and pay (most of
the traffic), residents who pay by one-time code at the till, residents reading their
history, the funding network topping wallets up through the signed webhook, shop owners
watching payments arrive on the live stream, and an officer polling the campaign's live
budget. Amounts follow a long tail around ¥1,500 (``machipay/spending.py``).

Environment:

* ``MACHIPAY_LOAD_SEED``: the logins file (default ``var/seed.json``)
* ``MACHIPAY_LOAD_HOT_SHARE``: share of payments that go to one shop (0.3 for the
  hot-shop variant; default 0: spread over every shop)
* ``MACHIPAY_LOAD_PAY_RATE``: payments per second per paying user (default 0: a user pays
  again as soon as the last payment answered, which finds the peak)
* ``MACHIPAY_LOAD_ARRIVALS``: with a pay rate, ``paced`` (default: each user pays on a
  fixed beat of its own, the first one at a random phase) or ``poisson`` (each user waits an
  exponentially distributed time before its first payment and after each answer: many such
  users arrive as residents do, independently of each other and of how fast the last
  payment was answered)
* ``MACHIPAY_LOAD_MIX``: ``morning`` (default, the whole mix) or ``payments`` (only
  scan-and-pay, what the benchmark measures)
* ``MACHIPAY_LOAD_CAMPAIGN_ID``, ``MACHIPAY_LOAD_OFFICER`` (``user:password``): the
  campaign the officer watches
* ``MACHIPAY_FUNDING_WEBHOOK_SECRET``: the server's webhook secret
* ``MACHIPAY_LOAD_MAX_RETRIES``: how often a payment refused as overloaded (503 with
  ``Retry-After``) is sent again, with the same ``Idempotency-Key``, after the wait the
  server asked for (default 5); then the resident gives up
* ``MACHIPAY_LOAD_FIRST_RESIDENT``: the place in the logins file of the first resident a
  user pays as (default 0; each user takes the next, and so does a user whose wallet ran dry)
* ``MACHIPAY_LOAD_TIMELINE``: a file to write, at the end, each answered scan-and-pay
  payment's send time and response time (the benchmark finds the phase's start in it)
* ``MACHIPAY_LOAD_OUTCOMES``: a file to write, at the end, the idempotency keys of the
  scan-and-pay payments that were accepted and of those given up (the benchmark checks
  each was paid exactly once, or not at all)

Payments refused as overloaded are counted apart from the answers ("pay refused:
overloaded"), as are the retries ("pay retry", timed by the wait before it) and the
payments given up ("pay gave up: overloaded"); "pay completed (end to end)" times each
accepted payment from its first try to its answer, waits included.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import os
import random
import time
import uuid
from pathlib import Path
from typing import Any

from locust import FastHttpUser, between, constant, events, task
from locust.env import Environment

from machipay.spending import amount_yen

SEED: dict[str, Any] = json.loads(  # the logins file written by `machipay seed`
    Path(os.environ.get("MACHIPAY_LOAD_SEED", "var/seed.json")).read_text()
)
HOT_SHARE = float(os.environ.get("MACHIPAY_LOAD_HOT_SHARE", "0"))
PAY_RATE = float(os.environ.get("MACHIPAY_LOAD_PAY_RATE", "0"))
ARRIVALS = os.environ.get("MACHIPAY_LOAD_ARRIVALS", "paced")
MIX = os.environ.get("MACHIPAY_LOAD_MIX", "morning")
CAMPAIGN_ID = os.environ.get("MACHIPAY_LOAD_CAMPAIGN_ID")
OFFICER = os.environ.get("MACHIPAY_LOAD_OFFICER", "")
WEBHOOK_SECRET = os.environ.get(
    "MACHIPAY_FUNDING_WEBHOOK_SECRET", "dev-only-secret-change-me-0123456789abcdef"
)
PASSWORD = SEED["password"]
RESIDENTS = SEED["residents"]
SHOPS = SEED["merchants"]
HOT_SHOP = SHOPS[0]
# Each user signs in as a resident of its own, so no two users pay from one wallet; a phase
# of the benchmark starts past the residents whose wallets earlier phases spent.
_next_resident = itertools.count(int(os.environ.get("MACHIPAY_LOAD_FIRST_RESIDENT", "0")))
MAX_RETRIES = int(os.environ.get("MACHIPAY_LOAD_MAX_RETRIES", "5"))
OUTCOMES = os.environ.get("MACHIPAY_LOAD_OUTCOMES")
TIMELINE = os.environ.get("MACHIPAY_LOAD_TIMELINE")
_accepted_keys: list[str] = []
_given_up_keys: list[str] = []
# Each answered scan-and-pay payment: when it was sent (epoch seconds) and its time (ms).
_timeline: list[tuple[float, float]] = []


@events.quitting.add_listener
def _write_outcomes(environment: Environment, **_kwargs: Any) -> None:
    if OUTCOMES:
        Path(OUTCOMES).write_text(
            json.dumps({"accepted": _accepted_keys, "gave_up": _given_up_keys})
        )
    if TIMELINE:
        Path(TIMELINE).write_text(json.dumps(_timeline))


@events.request.add_listener
def _note_payment(name: str, response_time: float, **_kwargs: Any) -> None:
    if TIMELINE and name in ("pay", "pay (hot shop)"):
        _timeline.append((time.time() - response_time / 1000, response_time))


def overload_wait_s(response: Any) -> float | None:
    """The wait an overloaded server asked for (503 + Retry-After), in seconds; None for any
    other answer. The jittered ``retry_after_ms`` is taken when not earlier than the header."""
    header = response.headers.get("Retry-After") if response.status_code == 503 else None
    if header is None or not header.strip().isdigit():
        return None
    try:
        hinted = int(response.json().get("retry_after_ms", 0))
    except (ValueError, TypeError, AttributeError):
        hinted = 0
    return max(int(header), hinted / 1000)


def fire(user: FastHttpUser, name: str, response_time: float) -> None:
    """A counted event of our own in locust's statistics (not an HTTP request)."""
    user.environment.events.request.fire(
        request_type="POST",
        name=name,
        response_time=response_time,
        response_length=0,
        exception=None,
        context={},
    )


def post_money_move(
    user: FastHttpUser, path: str, body: dict[str, Any], headers: dict[str, str], name: str
) -> tuple[int | None, str]:
    """POST a money-moving request under one Idempotency-Key; while the server refuses it
    as overloaded, wait as it asks and send it again with the same key, up to MAX_RETRIES
    times. Returns the final status (None: given up) and the key."""
    key, kind = uuid.uuid4().hex, name.split(" ")[0]
    started = time.perf_counter()
    for attempt in range(MAX_RETRIES + 1):
        with user.client.post(
            path,
            json=body,
            headers=headers | {"Idempotency-Key": key},
            name=name,
            catch_response=True,
        ) as response:
            wait = overload_wait_s(response)
            if wait is None:
                if response.status_code == 402:
                    # An empty wallet is the resident's problem, not the platform's.
                    response.success()
                if response.status_code == 201:
                    elapsed_ms = (time.perf_counter() - started) * 1000
                    fire(user, f"{kind} completed (end to end)", elapsed_ms)
                return response.status_code, key
            # Refused before any work: expected under overload, counted apart.
            response.request_meta["name"] = f"{kind} refused: overloaded"
            response.success()
        if attempt == MAX_RETRIES:
            break
        time.sleep(wait)  # cooperative: locust has gevent patch the time module
        fire(user, f"{kind} retry", wait * 1000)
    fire(user, f"{kind} gave up: overloaded", 0)
    return None, key


def pick_shop(rng: random.Random) -> dict[str, Any]:
    shop: dict[str, Any] = HOT_SHOP if HOT_SHARE and rng.random() < HOT_SHARE else rng.choice(SHOPS)
    return shop


def first_wait() -> float:
    """How long a paced user waits before its first payment, in seconds. Every user of a
    phase starts at the same instant: without this wait they would all pay at once, a burst
    of the whole crowd that no rate is (BENCHMARKS.md, session 14). A beat's phase is uniform
    over one interval; a Poisson arrival's first wait is exponential, as every later one is."""
    if not PAY_RATE:
        return 0.0
    if ARRIVALS == "poisson":
        return random.expovariate(PAY_RATE)
    return random.uniform(0, 1 / PAY_RATE)


def pacing() -> Any:
    if not PAY_RATE:
        return constant(0)
    if ARRIVALS == "poisson":
        return lambda _user: random.expovariate(PAY_RATE)
    # Each user's own beat, from the start of its last payment. Not locust's
    # constant_throughput: it counts the first beat from the moment the user was created, so
    # users created together pay together from the second beat on, whatever their first wait.
    interval = 1 / PAY_RATE
    return lambda user: max(0.0, user.began + interval - time.perf_counter())


class _Signed(FastHttpUser):
    abstract = True
    token = ""

    def become(self, resident: dict[str, Any]) -> None:
        """Act as this resident: with the token the benchmark minted, or by signing in."""
        if resident.get("token"):
            self.token = resident["token"]
        else:
            self.sign_in(resident["phone"], PASSWORD)

    def sign_in(self, username: str, password: str) -> None:
        with self.client.post(
            "/api/v1/auth/token",
            json={"username": username, "password": password},
            name="sign in",
            catch_response=True,
        ) as response:
            if response.status_code != 200:
                response.failure(f"sign in {response.status_code}")
                return
            self.token = response.json()["access_token"]

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


class ScanAndPay(_Signed):
    """A resident at a shop: open the wallet, scan the sticker, see the shop, pay."""

    weight = 20
    wait_time = pacing()
    began = 0.0  # when its last payment started (its beat)

    def on_start(self) -> None:
        self.rng = random.Random()
        self.become(RESIDENTS[next(_next_resident) % len(RESIDENTS)])
        time.sleep(first_wait())  # cooperative: locust has gevent patch the time module

    @task
    def pay(self) -> None:
        self.began = time.perf_counter()
        shop = pick_shop(self.rng)
        if MIX == "morning":
            self.client.get("/api/v1/wallet", headers=self.auth, name="wallet")
            self.client.post(
                "/api/v1/qr/resolve",
                json={"payload": shop["qr_payload"]},
                headers=self.auth,
                name="qr resolve",
            )
        name = "pay (hot shop)" if shop is HOT_SHOP else "pay"
        status, key = post_money_move(
            self,
            "/api/v1/payments",
            {"qr_payload": shop["qr_payload"], "amount": amount_yen(self.rng)},
            self.auth,
            name,
        )
        if status == 201:
            _accepted_keys.append(key)
        elif status is None:
            _given_up_keys.append(key)
        elif status == 402:
            # Let another resident step up to the till.
            self.become(RESIDENTS[next(_next_resident) % len(RESIDENTS)])
            fire(self, "pay refused: insufficient funds", 0)


class History(_Signed):
    abstract = MIX != "morning"
    weight = 3
    wait_time = between(1, 3)

    def on_start(self) -> None:
        self.become(RESIDENTS[next(_next_resident) % len(RESIDENTS)])

    @task
    def history(self) -> None:
        self.client.get("/api/v1/wallet/transactions?limit=20", headers=self.auth, name="history")


class OneTimeCodeAtTheTill(_Signed):
    """A resident shows a one-time code; the shop's terminal captures it."""

    abstract = MIX != "morning"
    weight = 2
    wait_time = between(1, 3)

    def on_start(self) -> None:
        self.rng = random.Random()
        self.become(RESIDENTS[next(_next_resident) % len(RESIDENTS)])
        self.resident_token = self.token
        self.shop = self.rng.choice(SHOPS)
        self.sign_in(self.shop["username"], PASSWORD)
        self.shop_token = self.token

    @task
    def pay_by_code(self) -> None:
        shown = self.client.post(
            "/api/v1/wallet/one-time-code",
            headers={"Authorization": f"Bearer {self.resident_token}"},
            name="one-time code",
        )
        if shown.status_code != 201:
            return
        post_money_move(
            self,
            "/api/v1/merchant/cpm-payments",
            {"code": shown.json()["code"], "amount": amount_yen(self.rng)},
            {"Authorization": f"Bearer {self.shop_token}"},
            "cpm capture",
        )


class FundingNetwork(FastHttpUser):
    """The bank / ATM / convenience-store network crediting wallets."""

    abstract = MIX != "morning"
    weight = 1
    wait_time = between(0.5, 1.5)

    def on_start(self) -> None:
        self.rng = random.Random()

    @task
    def top_up(self) -> None:
        body = json.dumps(
            {
                "event_id": uuid.uuid4().hex,
                "wallet_id": self.rng.choice(RESIDENTS)["wallet_id"],
                "amount": self.rng.choice((1_000, 3_000, 5_000)),
                "source": "konbini",
                "occurred_at": time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime()),
            }
        )
        stamp = str(int(time.time()))
        signature = hmac.new(
            WEBHOOK_SECRET.encode(), f"{stamp}.{body}".encode(), hashlib.sha256
        ).hexdigest()
        with self.client.post(
            "/api/v1/funding/webhook",
            data=body,
            headers={
                "Content-Type": "application/json",
                "X-Machipay-Signature": f"t={stamp},v1={signature}",
            },
            name="funding webhook",
            catch_response=True,
        ) as response:
            if response.status_code == 422 and "cap" in response.text:
                response.success()  # a full wallet refuses a top-up: expected, not an error


class ShopWatchingLive(_Signed):
    """A shop owner with the dashboard open: the live stream, reconnecting now and then."""

    abstract = MIX != "morning"
    weight = 1
    wait_time = between(0.5, 1)

    def on_start(self) -> None:
        self.sign_in(random.choice(SHOPS)["username"], PASSWORD)

    @task
    def watch(self) -> None:
        started = time.monotonic()
        with self.client.get(
            "/api/v1/merchant/events",
            headers=self.auth,
            name="live events",
            stream=True,
            catch_response=True,
        ) as response:
            for _chunk in response.iter_content(64):
                if time.monotonic() - started > 10:
                    break
            response.success()


class OfficerWatchingBudget(_Signed):
    abstract = MIX != "morning" or not CAMPAIGN_ID
    weight = 1
    wait_time = constant(2)

    def on_start(self) -> None:
        username, _, password = OFFICER.partition(":")
        self.sign_in(username, password)

    @task
    def budget(self) -> None:
        self.client.get(f"/api/v1/campaigns/{CAMPAIGN_ID}", headers=self.auth, name="live budget")
