"""The ``machipay`` command through its real entry point (a subprocess)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

import ledger
from ledger import credit, debit
from ledger.hashing import entry_fingerprint, entry_hash
from ledger.models import Entry
from machipay.db import create_engine, make_sessionmaker
from machipay.settings import Settings
from tests.conftest import (
    REDIS_URL,
    create_scratch_postgres,
    drop_scratch_postgres,
    free_port,
    wait_until_serving,
)

MACHIPAY = [sys.executable, "-m", "assembly"]


# What an operator sets in production (any 32+ random characters).
PRODUCTION_SECRETS = {
    "MACHIPAY_SECRET_KEY": "cli-test-secret-key-0123456789-abcdefghij",
    "MACHIPAY_FUNDING_WEBHOOK_SECRET": "cli-test-webhook-secret-0123456789-abcdef",
    "MACHIPAY_ANALYTICS_PSEUDONYM_SECRET": "cli-test-pseudonym-secret-0123456789-abcd",
    "MACHIPAY_METRICS_TOKEN": "cli-test-metrics-token-0123456789-abcdefgh",
    "MACHIPAY_SMS_BACKEND": "http",
    "MACHIPAY_SMS_GATEWAY_URL": "https://sms-gateway.example/v1/messages",
    "MACHIPAY_SMS_API_KEY": "cli-test-sms-api-key-0123456789",
}


@dataclass
class FakeSmsGateway:
    url: str
    messages: list[dict[str, str]]


@pytest.fixture
def sms_gateway() -> Iterator[FakeSmsGateway]:
    """An SMS gateway on loopback that takes every message (the edge, faked)."""
    received: list[dict[str, str]] = []

    class Gateway(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            received.append(json.loads(self.rfile.read(length)))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Gateway)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield FakeSmsGateway(f"http://127.0.0.1:{server.server_address[1]}/send", received)
    finally:
        server.shutdown()
        thread.join(5)


def run_cli(
    *args: str,
    database_url: str,
    redis_url: str | None = None,
    extra_env: dict[str, str] | None = None,
    timeout: float = 120,
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MACHIPAY_")}
    env["MACHIPAY_DATABASE_URL"] = database_url
    env["MACHIPAY_LOG_JSON"] = "true"
    if redis_url:
        env["MACHIPAY_REDIS_URL"] = redis_url
    env.update(extra_env or {})
    return subprocess.run(
        [*MACHIPAY, *args], env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


@pytest.fixture
async def scratch_database() -> AsyncIterator[str]:
    """An empty database of its own: the test migrates it through the CLI."""
    url = await create_scratch_postgres("machipay_cli")
    yield url
    await drop_scratch_postgres(url)


def test_help_lists_the_operations_commands() -> None:
    result = subprocess.run(
        [*MACHIPAY, "--help"], capture_output=True, text=True, timeout=60, check=True
    )
    for command in (
        "demo", "serve", "worker", "migrate", "seed", "users", "settle", "payout",
        "expire-points", "grant-deferred", "verify", "report", "seal",
    ):  # fmt: skip
        assert command in result.stdout, command


async def test_migrate_then_verify_then_tamper(scratch_database: str) -> None:
    migrated = await asyncio.to_thread(run_cli, "migrate", database_url=scratch_database)
    assert migrated.returncode == 0, migrated.stderr
    assert "migrated to" in migrated.stdout
    again = await asyncio.to_thread(run_cli, "migrate", database_url=scratch_database)
    assert again.returncode == 0, again.stderr  # idempotent

    engine = create_engine(Settings(database_url=scratch_database))
    sm = make_sessionmaker(engine)
    try:
        async with sm() as session:
            await ledger.open_accounts(session, ["resident:cli1:money", "merchant:cli1:payable"])
            await ledger.post_entry(
                session,
                idempotency_key="cli-topup",
                kind="topup",
                legs=[debit(ledger.BANK_SETTLEMENT, 3_000), credit("resident:cli1:money", 3_000)],
            )
            paid = await ledger.post_entry(
                session,
                idempotency_key="cli-pay",
                kind="payment",
                legs=[debit("resident:cli1:money", 800), credit("merchant:cli1:payable", 800)],
            )
            await session.commit()

        sealed = await asyncio.to_thread(run_cli, "seal", database_url=scratch_database)
        assert "sealed 2 entries" in sealed.stdout, sealed.stdout + sealed.stderr
        clean = await asyncio.to_thread(run_cli, "verify", database_url=scratch_database)
        assert clean.returncode == 0, clean.stdout + clean.stderr
        assert "ledger verify: OK" in clean.stdout

        # A clumsy forgery: one posting changed. verify names the posting and its account.
        async with sm() as session:
            await _bypass_append_only(session)
            posting_id = (
                await session.execute(
                    text("SELECT id FROM ledger_postings WHERE entry_id = :e AND amount > 0"),
                    {"e": paid.id},
                )
            ).scalar_one()
            await session.execute(
                text("UPDATE ledger_postings SET amount = 80 WHERE id = :id"), {"id": posting_id}
            )
            await session.commit()
        tampered = await asyncio.to_thread(run_cli, "verify", database_url=scratch_database)
        assert tampered.returncode == 1
        assert "FAILED" in tampered.stdout
        assert f"posting {posting_id} " in tampered.stdout
        assert "resident:cli1:money" in tampered.stdout

        # A careful forgery: both legs, the balances and the entry's own hashes rewritten to
        # agree. Only the sealed chain still knows, and verify names the block.
        async with sm() as session:
            await _bypass_append_only(session)
            await session.execute(
                text("UPDATE ledger_postings SET amount = -80 WHERE entry_id = :e AND amount < 0"),
                {"e": paid.id},
            )
            await session.execute(
                text("UPDATE ledger_postings SET balance_after = 2920 WHERE id = :id"),
                {"id": posting_id},
            )
            await session.execute(
                text("UPDATE ledger_accounts SET balance = 2920 WHERE code = 'resident:cli1:money'")
            )
            created_at = (
                await session.execute(select(Entry.created_at).where(Entry.id == paid.id))
            ).scalar_one()
            fingerprint = entry_fingerprint(
                idempotency_key="cli-pay",
                kind="payment",
                memo=None,
                reverses_entry_id=None,
                legs=[("resident:cli1:money", 80), ("merchant:cli1:payable", -80)],
            )
            await session.execute(
                text("UPDATE ledger_entries SET fingerprint = :f, content_hash = :h WHERE id = :e"),
                {"f": fingerprint, "h": entry_hash(fingerprint, created_at), "e": paid.id},
            )
            await session.commit()
    finally:
        await engine.dispose()

    forged = await asyncio.to_thread(run_cli, "verify", database_url=scratch_database)
    assert forged.returncode == 1, forged.stdout
    assert "[chain] block 1" in forged.stdout
    findings = [line for line in forged.stdout.splitlines() if line.strip().startswith("[")]
    assert findings == [
        line for line in findings if line.strip().startswith("[chain]")
    ]  # rows look right


async def _bypass_append_only(session: AsyncSession) -> None:
    """What someone with superuser rights would do first."""
    await session.execute(text("SET LOCAL session_replication_role = replica"))


async def test_verify_refuses_an_unmigrated_database(scratch_database: str) -> None:
    result = await asyncio.to_thread(run_cli, "verify", database_url=scratch_database)
    assert result.returncode != 0
    assert "machipay migrate" in result.stderr + result.stdout


def test_a_sqlite_url_is_refused_with_a_clear_message(tmp_path: Path) -> None:
    result = run_cli("verify", database_url=f"sqlite:///{tmp_path / 'old.db'}", timeout=30)
    assert result.returncode != 0
    assert "SQLite is no longer supported" in result.stderr + result.stdout
    assert not (tmp_path / "old.db").exists()


def test_servers_in_production_refuse_to_run_without_a_database_url(tmp_path: Path) -> None:
    # Unset, the CLI would start the embedded server: fine for development, never for a
    # production API process.
    env = {k: v for k, v in os.environ.items() if not k.startswith("MACHIPAY_")}
    env.update(PRODUCTION_SECRETS)
    env["MACHIPAY_EMBEDDED_PGDATA"] = str(tmp_path / "pgdata")
    result = subprocess.run(
        [*MACHIPAY, "serve", "--port", "0"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2, result.stdout + result.stderr
    assert "MACHIPAY_DATABASE_URL is unset" in result.stderr
    assert not (tmp_path / "pgdata").exists()


@pytest.mark.parametrize("command", [["serve", "--port", "0"], ["worker"]])
async def test_servers_refuse_development_secrets_unless_development_is_explicit(
    command: list[str], scratch_database: str
) -> None:
    # MACHIPAY_ENVIRONMENT unset: the server must not run on the public development keys
    # (it refuses before it even looks at the database, which is not migrated here).
    await asyncio.to_thread(_refuses_until_development, command, scratch_database)


def _refuses_until_development(command: list[str], url: str) -> None:
    refused = run_cli(*command, database_url=url, timeout=30)
    assert refused.returncode == 2, refused.stdout + refused.stderr
    for name in (
        "MACHIPAY_SECRET_KEY",
        "MACHIPAY_FUNDING_WEBHOOK_SECRET",
        "MACHIPAY_ANALYTICS_PSEUDONYM_SECRET",
    ):
        assert name in refused.stderr, refused.stderr
    assert "Traceback" not in refused.stderr
    # One real secret is not enough: the others are still named.
    partly = run_cli(
        *command,
        database_url=url,
        extra_env={"MACHIPAY_SECRET_KEY": PRODUCTION_SECRETS["MACHIPAY_SECRET_KEY"]},
        timeout=30,
    )
    assert partly.returncode == 2
    assert "MACHIPAY_SECRET_KEY" not in partly.stderr
    assert "MACHIPAY_FUNDING_WEBHOOK_SECRET" in partly.stderr
    # Explicit development passes the check (and then stops at the unmigrated database).
    development = run_cli(
        *command, database_url=url, extra_env={"MACHIPAY_ENVIRONMENT": "development"}, timeout=30
    )
    assert "machipay migrate" in development.stderr + development.stdout
    assert "MACHIPAY_SECRET_KEY" not in development.stderr


async def keeps_an_idle_connection_for(port: int, *, seconds: float) -> None:
    """An idle keep-alive connection answers a second request within ``seconds`` and is
    closed by the server after them (MACHIPAY_HTTP_KEEP_ALIVE_SECONDS)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)

    async def healthz() -> None:
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        await writer.drain()
        head = (await reader.readuntil(b"\r\n\r\n")).decode().lower()
        assert head.startswith("http/1.1 200"), head
        length = int(head.split("content-length:")[1].split("\r\n")[0])
        await reader.readexactly(length)

    try:
        await healthz()
        await asyncio.sleep(seconds / 4)
        await healthz()  # still open
        assert await asyncio.wait_for(reader.read(), timeout=seconds * 3) == b""  # closed
    finally:
        writer.close()


async def test_serve_answers_health_and_readiness(
    scratch_database: str, sms_gateway: FakeSmsGateway
) -> None:
    redis_url = REDIS_URL
    assert (
        await asyncio.to_thread(run_cli, "migrate", database_url=scratch_database)
    ).returncode == 0
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MACHIPAY_")}
    # As in production: MACHIPAY_ENVIRONMENT unset, real secrets.
    env.update(
        PRODUCTION_SECRETS,
        MACHIPAY_DATABASE_URL=scratch_database,
        MACHIPAY_LOG_LEVEL="WARNING",
        MACHIPAY_SEALER_INTERVAL_SECONDS="0.2",
        # Every test registers from 127.0.0.1 and the hourly window outlives a test in Redis.
        MACHIPAY_REGISTRATIONS_PER_IP_PER_HOUR="100000",
        MACHIPAY_SMS_GATEWAY_URL=sms_gateway.url,
        MACHIPAY_HTTP_KEEP_ALIVE_SECONDS="2",
    )
    if redis_url:
        env["MACHIPAY_REDIS_URL"] = redis_url
    server = subprocess.Popen(  # noqa: ASYNC220 - a long-lived child, polled below
        [*MACHIPAY, "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", "2"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=2) as client:
            ready = await wait_until_serving(client, server, 30)
            assert ready.status_code == 200, ready.text
            assert "strict-transport-security" not in ready.headers  # plain HTTP
            for _ in range(12):
                assert (await client.get("/healthz")).json() == {"status": "ok"}
            # Behind a TLS proxy on this host (trusted by default): HSTS, and the CSP.
            proxied = await client.get("/readyz", headers={"X-Forwarded-Proto": "https"})
            assert proxied.headers["strict-transport-security"].startswith("max-age=")
            assert "frame-ancestors 'none'" in proxied.headers["content-security-policy"]

            # The bank simulator signs like the funding network and the server credits it.
            phone, password = "080-2345-6789", "a-long-passphrase"
            created = await client.post(
                "/api/v1/residents",
                json={
                    "phone": phone,
                    "password": password,
                    "display_name": "CLI",
                    "birth_year": 1970,
                    "district": "kitazawa",
                },
            )
            assert created.status_code == 201, created.text
            wallet_id = created.json()["wallet_id"]
            # The code went through the gateway (as production sends it) and verifies.
            texted = sms_gateway.messages[-1]
            assert texted["to"] == "+818023456789", texted
            code = texted["text"].split("確認コード: ")[1][:6]
            phone_verified = await client.post(
                "/api/v1/residents/verify", json={"phone": phone, "code": code}
            )
            assert phone_verified.status_code == 200, phone_verified.text
            topup = await asyncio.to_thread(
                run_cli,
                "simulate-topup",
                "--wallet-id",
                wallet_id,
                "--amount",
                "4321",
                "--url",
                f"http://127.0.0.1:{port}",
                database_url=scratch_database,
                extra_env=PRODUCTION_SECRETS,
            )
            assert topup.returncode == 0, topup.stdout + topup.stderr
            assert '"credited"' in topup.stdout
            token = (
                await client.post(
                    "/api/v1/auth/token", json={"username": phone, "password": password}
                )
            ).json()
            wallet = await client.get(
                "/api/v1/wallet", headers={"Authorization": f"Bearer {token['access_token']}"}
            )
            assert wallet.json()["money"] == 4321

            # Each network names the wallet its own way: the bank by the virtual account
            # (looked up in the database from --wallet-id), the konbini by its number, the
            # ATM by the wallet id.
            resident = {"Authorization": f"Bearer {token['access_token']}"}
            konbini_number = (await client.get("/api/v1/wallet/funding", headers=resident)).json()[
                "konbini_number"
            ]
            for network, reference in (
                ("bank", ["--wallet-id", wallet_id]),
                ("konbini", ["--konbini-number", konbini_number]),
                ("atm", ["--wallet-id", wallet_id]),
            ):
                played = await asyncio.to_thread(
                    run_cli,
                    "simulate-topup",
                    "--via",
                    network,
                    *reference,
                    "--amount",
                    "1000",
                    "--url",
                    f"http://127.0.0.1:{port}",
                    database_url=scratch_database,
                    extra_env=PRODUCTION_SECRETS,
                )
                assert played.returncode == 0, network + played.stdout + played.stderr
                assert '"credited"' in played.stdout
            # The bank's account is the one the resident's funding screen shows.
            funding = (await client.get("/api/v1/wallet/funding", headers=resident)).json()
            by_account = await asyncio.to_thread(
                run_cli,
                "simulate-topup",
                "--via",
                "bank",
                "--virtual-account",
                funding["bank"]["account_number"],
                "--amount",
                "679",
                "--url",
                f"http://127.0.0.1:{port}",
                database_url=scratch_database,
                extra_env=PRODUCTION_SECRETS,
            )
            assert by_account.returncode == 0, by_account.stdout + by_account.stderr
            wallet = await client.get("/api/v1/wallet", headers=resident)
            assert wallet.json()["money"] == 4321 + 3000 + 679
            history = await client.get("/api/v1/wallet/transactions", headers=resident)
            assert [t["counterparty"] for t in history.json()["items"]][:4] == [
                "bank",
                "atm",
                "konbini",
                "bank",
            ]

            # Staff users come from the CLI and can sign in.
            made = await asyncio.to_thread(
                run_cli,
                "users",
                "create",
                "--role",
                "officer",
                "--username",
                "ward.officer",
                "--password",
                "officer-passphrase-1",
                database_url=scratch_database,
            )
            assert made.returncode == 0, made.stderr
            again = await asyncio.to_thread(
                run_cli,
                "users",
                "create",
                "--role",
                "officer",
                "--username",
                "ward.officer",
                "--password",
                "officer-passphrase-1",
                database_url=scratch_database,
            )
            assert again.returncode == 1 and "already taken" in again.stderr
            bad_role = await asyncio.to_thread(
                run_cli,
                "users",
                "create",
                "--role",
                "resident",
                "--username",
                "someone",
                "--password",
                "officer-passphrase-1",
                database_url=scratch_database,
            )
            assert bad_role.returncode == 2
            signed_in = await client.post(
                "/api/v1/auth/token",
                json={"username": "ward.officer", "password": "officer-passphrase-1"},
            )
            assert signed_in.status_code == 200
            # Two workers, one scrape: the counts of both are added up.
            scrape = {"Authorization": f"Bearer {PRODUCTION_SECRETS['MACHIPAY_METRICS_TOKEN']}"}
            metrics = (await client.get("/metrics", headers=scrape)).text
            assert 'route="/healthz",status="200"} 12.0' in metrics, metrics[-2000:]
            await keeps_an_idle_connection_for(port, seconds=2)
    finally:
        server.terminate()
        output, _ = server.communicate(timeout=30)
    assert server.returncode in (0, -15), output
    verified = await asyncio.to_thread(run_cli, "verify", database_url=scratch_database)
    assert verified.returncode == 0, verified.stdout
