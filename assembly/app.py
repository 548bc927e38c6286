"""The application factory: one FastAPI app serving every context's routes."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import AsyncIterator

from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from analytics import benefit_routes as benefit_report_routes
from analytics import campaign_routes as campaign_report_routes
from analytics import routes as analytics_routes
from analytics import run_consumer_forever
from benefits import routes as benefit_routes
from campaigns import CampaignEngine
from campaigns import directory_routes as shop_directory_routes
from campaigns import routes as campaign_routes
from desk import routes as desk_routes
from identity import routes as auth_routes
from ledger import money_triggers, run_sealer_forever
from machipay import health
from machipay.admission import AdmissionGate, AdmissionMiddleware, controlled_routes
from machipay.cache import make_cache
from machipay.db import create_engine, make_sessionmaker
from machipay.docs import install_docs
from machipay.events import Broker, make_broker
from machipay.logging import configure_logging
from machipay.metrics import MetricsMiddleware, watch_event_loop_lag, watch_gc_pauses
from machipay.migrate import assert_migrated, assert_money_triggers
from machipay.problems import install_error_handlers
from machipay.requestlog import RequestContextMiddleware
from machipay.security_headers import SecurityHeadersMiddleware
from machipay.settings import Settings, get_settings
from machipay.sms import HttpSms, make_sms_sender
from machipay.sms import router as sms_routes
from merchant_api import routes as merchant_routes
from payments import CampaignRewards, PaymentGroupCommit
from payments import routes as payment_routes
from settlement import routes as settlement_routes
from wallet_api import routes as wallet_routes
from ward import routes as ward_routes
from web import install_web

log = logging.getLogger("machipay.app")


# The collector's thresholds for a serving worker (CPython's are 700, 10, 10). Each request
# allocates thousands of objects and frees nearly all of them by reference counting, so at
# CPython's default a worker under load ran a full pass about every 4 s, each stalling every
# payment it had in flight for 10-50 ms (machipay_gc_pause_seconds, BENCHMARKS.md session 14).
# With a young generation of 20,000 and a full pass only after 100 middle ones, a 20 s phase
# of the campaign morning ran none, and RSS per worker stayed at 128-130 MB.
GC_THRESHOLDS = (20_000, 20, 100)


def freeze_startup_objects() -> None:
    """Keep what start-up built (about 200,000 objects: modules, the app, its routes and
    models) out of the garbage collector's full passes for the life of the process. A full
    pass over them stalls every request a worker has in flight for about 110 ms (measured on
    this app); frozen, it scans only what requests created. Then collect less often
    (:data:`GC_THRESHOLDS`). Not in tests, which build many apps in one process and would
    keep each one's garbage for good."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


async def start_payment_batches(
    settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    broker: Broker,
    rewards: CampaignRewards,
) -> PaymentGroupCommit | None:
    """The worker's group commit for sticker payments, its connections open and its
    statements prepared (None without group commit)."""
    if not settings.payment_group_commit:
        return None
    batches = PaymentGroupCommit(
        sessionmaker,
        broker,
        settings,
        rewards,
        flushers=settings.payment_batch_flushers,
        max_batch=settings.payment_batch_max,
    )
    try:
        await batches.warm()
    except BaseException:
        await batches.close()
        raise
    return batches


def create_app(settings: Settings | None = None, *, configure_logs: bool = True) -> FastAPI:
    settings = settings or get_settings()
    settings.refuse_unsafe_secrets()
    if configure_logs:
        configure_logging(settings.log_level, settings.log_json)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = create_engine(settings)
        cache = make_cache(settings.redis_url, max_connections=settings.redis_max_connections)
        broker = make_broker(settings.redis_url)
        sealer: asyncio.Task[None] | None = None
        consumer: asyncio.Task[None] | None = None
        lag = asyncio.create_task(watch_event_loop_lag(), name="event-loop-lag")
        watch_gc_pauses()
        try:
            await assert_migrated(engine)
            await assert_money_triggers(engine, money_triggers())
            app.state.settings = settings
            app.state.engine = engine
            app.state.sessionmaker = make_sessionmaker(engine)
            app.state.cache = cache
            app.state.broker = broker
            app.state.sms = make_sms_sender(settings, cache)
            # What each payment earns (and each refund takes back) from running campaigns.
            app.state.campaign_rewards = CampaignEngine(
                shards=settings.campaign_budget_shards,
                refresh_seconds=settings.campaign_refresh_seconds,
            )
            # A worker's concurrent sticker payments, a transaction per batch.
            app.state.payment_batches = await start_payment_batches(
                settings, app.state.sessionmaker, broker, app.state.campaign_rewards
            )
            if settings.sealer_enabled:
                sealer = asyncio.create_task(
                    run_sealer_forever(
                        app.state.sessionmaker,
                        settings.sealer_interval_seconds,
                        settings.sealer_max_entries_per_block,
                    ),
                    name="ledger-sealer",
                )
            if settings.analytics_consumer_enabled:
                consumer = asyncio.create_task(
                    run_consumer_forever(app.state.sessionmaker, settings),
                    name="analytics-consumer",
                )
            log.info(
                "machipay started",
                extra={"cache": type(cache).__name__},
            )
            if settings.environment != "test":
                freeze_startup_objects()
            yield
        finally:
            batches = getattr(app.state, "payment_batches", None)
            if batches is not None:
                await batches.close()
            for task in (sealer, consumer, lag):
                if task is not None:
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
            sms = getattr(app.state, "sms", None)
            if isinstance(sms, HttpSms):
                await sms.close()
            await cache.close()
            await broker.close()
            await engine.dispose()

    app = FastAPI(
        title="machipay",
        version="0.1.0",
        summary="Regional cashless payments for a Japanese ward (まちペイ).",
        lifespan=lifespan,
        openapi_url="/openapi.json" if settings.serves_docs else None,
        docs_url=None,  # install_docs: Swagger UI under a policy of its own
        redoc_url=None,
    )
    if settings.serves_docs:
        install_docs(app)
    install_error_handlers(app)
    # Starlette tries routes in order, and FastAPI matches an included router twice (to
    # choose it, then inside it): the payment path first spares every payment the regexes of
    # the routers before it (0.28 → 0.05 ms a request, measured). Its paths overlap no other
    # router's: a test compares every route's resolution with and without this order.
    routers = [
        payment_routes.router,
        health.router,
        sms_routes,
        auth_routes.router,
        ward_routes.router,
        wallet_routes.router,
        merchant_routes.router,
        settlement_routes.router,
        shop_directory_routes.router,  # before the admin's /campaigns/{id}
        campaign_routes.router,
        campaign_report_routes.router,
        desk_routes.router,
        benefit_routes.router,
        benefit_report_routes.router,
        analytics_routes.router,
    ]
    for router in routers:
        app.include_router(router)
    install_web(app)
    # Innermost (added first: each add_middleware wraps the ones before it), so the
    # request metrics and the access log see its refusals too. One gate per worker
    # process: each has its own connection pool to protect. The routers are included
    # without a prefix, so their routes' paths are the paths requests arrive on.
    gate = AdmissionGate(settings.payment_admission_limit, settings.payment_queue_wait_ms / 1000)
    app.state.payment_gate = gate
    app.add_middleware(
        AdmissionMiddleware,
        gate=gate,
        routes=controlled_routes(r for router in routers for r in router.routes),
    )
    app.add_middleware(MetricsMiddleware)
    app.add_middleware(RequestContextMiddleware)
    # Outermost: the headers are on every response, errors from the layers inside included.
    app.add_middleware(SecurityHeadersMiddleware, map_tile_url=settings.map_tile_url)
    return app
