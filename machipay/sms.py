"""Text messages to residents' and shop owners' phones: one interface, two backends.

    SmsSender.send(to_e164, text)
     ├── SinkSms   keeps the messages in the cache (``MACHIPAY_SMS_BACKEND=sink``, the default
     │             outside production): the demo and the tests read codes from it, through
     │             ``GET /api/v1/ops/sms`` (operators) or ``machipay sms``
     └── HttpSms   posts to the SMS gateway (``MACHIPAY_SMS_BACKEND=http``, required in
                   production): a failure is logged and raised as :class:`SmsNotSent` (503)

The sink lives in the cache backend, not in the process, so every API worker behind a load
balancer writes to and reads from the same one (the demo's in-memory cache has one worker).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Protocol

import httpx
from fastapi import APIRouter, Depends, Query, Request

from machipay.auth.deps import require_roles
from machipay.auth.roles import Role
from machipay.cache import CacheBackend
from machipay.errors import NotFound, ServiceUnavailable, ValidationFailed
from machipay.phone import normalize_phone
from machipay.settings import Settings
from machipay.timeutil import to_tokyo, utcnow

log = logging.getLogger("machipay.sms")

# What the sink keeps: enough to read the last few codes, never a growing store.
SINK_KEEP_PER_NUMBER = 20
SINK_KEEP_ALL = 200
SINK_TTL_SECONDS = 86_400
_SINK_ALL = "sms:sink:all"


class SmsNotSent(ServiceUnavailable):
    type_slug = "sms-not-sent"
    title = "The text message could not be sent"


class SmsSender(Protocol):
    async def send(self, to_e164: str, text: str) -> None: ...


@dataclass(frozen=True, slots=True)
class SentSms:
    to: str
    text: str
    sent_at: datetime


def _sink_key(to_e164: str) -> str:
    return f"sms:sink:{to_e164}"


class SinkSms:
    """Keeps each message (newest first, bounded) and logs it: the demo's console and the
    operator console show where a code went without a phone."""

    def __init__(self, cache: CacheBackend) -> None:
        self._cache = cache

    async def send(self, to_e164: str, text: str) -> None:
        record = json.dumps({"to": to_e164, "text": text, "sent_at": utcnow().isoformat()})
        await self._cache.push_recent(
            _sink_key(to_e164), record, SINK_KEEP_PER_NUMBER, SINK_TTL_SECONDS
        )
        await self._cache.push_recent(_SINK_ALL, record, SINK_KEEP_ALL, SINK_TTL_SECONDS)
        # The demo's console is where a developer reads the code: say it in the message.
        log.info("SMS to %s (kept in the sink): %s", to_e164, text)

    async def messages(self, to_e164: str | None = None) -> list[SentSms]:
        """Newest first: to one number, or to anyone."""
        raw = await self._cache.recent(_sink_key(to_e164) if to_e164 else _SINK_ALL)
        out = []
        for item in raw:
            data = json.loads(item)
            out.append(SentSms(data["to"], data["text"], datetime.fromisoformat(data["sent_at"])))
        return out


class HttpSms:
    """An SMS gateway's HTTP API: ``POST <url>`` with a bearer key and
    ``{"from","to","text"}``; any 2xx is sent. ``transport`` lets tests fake the gateway at
    the edge (httpx.MockTransport)."""

    def __init__(self, settings: Settings, transport: httpx.AsyncBaseTransport | None = None):
        if settings.sms_gateway_url is None or settings.sms_api_key is None:
            raise ValueError("MACHIPAY_SMS_GATEWAY_URL and MACHIPAY_SMS_API_KEY must be set")
        self._url = settings.sms_gateway_url
        self._sender_id = settings.sms_sender_id
        self._client = httpx.AsyncClient(
            timeout=settings.sms_timeout_seconds,
            transport=transport,
            headers={"Authorization": f"Bearer {settings.sms_api_key}"},
        )

    async def send(self, to_e164: str, text: str) -> None:
        try:
            answer = await self._client.post(
                self._url, json={"from": self._sender_id, "to": to_e164, "text": text}
            )
        except httpx.HTTPError as exc:
            log.error("SMS gateway unreachable", extra={"sms_to": to_e164, "error": repr(exc)})
            raise SmsNotSent("The text message could not be sent; try again shortly.") from exc
        if not answer.is_success:
            log.error(
                "SMS gateway refused a message",
                extra={"sms_to": to_e164, "status": answer.status_code},
            )
            raise SmsNotSent("The text message could not be sent; try again shortly.")

    async def close(self) -> None:
        await self._client.aclose()


def make_sms_sender(
    settings: Settings, cache: CacheBackend, transport: httpx.AsyncBaseTransport | None = None
) -> SinkSms | HttpSms:
    if settings.sms_backend == "http":
        return HttpSms(settings, transport)
    return SinkSms(cache)


async def sms_sender(request: Request) -> SmsSender:
    sender: SmsSender = request.app.state.sms
    return sender


Sms = Annotated[SmsSender, Depends(sms_sender)]

router = APIRouter(prefix="/api/v1/ops", tags=["operations"])


@router.get("/sms", dependencies=[Depends(require_roles(Role.OPERATOR))])
async def sink_messages(
    request: Request,
    to: Annotated[str | None, Query(min_length=3, max_length=20)] = None,
) -> list[dict[str, str]]:
    """The messages the sink holds, newest first (only while MACHIPAY_SMS_BACKEND=sink):
    to one number, or the last ones to anyone."""
    sender = request.app.state.sms
    if not isinstance(sender, SinkSms):
        raise NotFound("There is no SMS sink: messages go to the SMS gateway.")
    number = None
    if to is not None:
        try:
            number = normalize_phone(to)
        except ValueError as exc:
            raise ValidationFailed("to is a Japanese phone number.", field="to") from exc
    return [
        {"to": m.to, "text": m.text, "sent_at": to_tokyo(m.sent_at).isoformat()}
        for m in await sender.messages(number)
    ]


async def within_sms_allowance(cache: CacheBackend, settings: Settings, to_e164: str) -> bool:
    """Count a message to this number; False beyond ``MACHIPAY_SMS_PER_PHONE_PER_HOUR``.
    Callers stay silent when it is spent (their answer must not depend on it): nobody can
    use the service to flood a stranger's phone, or to learn anything from a refusal."""
    count = await cache.incr_window(f"rl:sms-phone:{to_e164}", 3_600)
    return count <= settings.sms_per_phone_per_hour


async def send_after_response(sender: SmsSender, to_e164: str, text: str) -> None:
    """For a background task: the gateway's failure is logged by the sender (there is no
    response left to carry it)."""
    try:
        await sender.send(to_e164, text)
    except SmsNotSent:
        log.warning("an SMS sent after the response was lost", extra={"sms_to": to_e164})
