"""Reading the codes the app texted: tests play the phone by reading the SMS sink."""

from __future__ import annotations

import re

import httpx

from machipay.phone import normalize_phone
from machipay.sms import SentSms, SinkSms

_CODE = re.compile(r"(?:確認コード|再設定コード): (\d{6})")


def sink_of(client: httpx.AsyncClient) -> SinkSms:
    """The sink of the app an in-process client (httpx.ASGITransport) talks to."""
    transport = client._transport  # the ASGI transport holds the app
    assert isinstance(transport, httpx.ASGITransport), "an in-process client"
    sink = transport.app.state.sms  # type: ignore[attr-defined]
    assert isinstance(sink, SinkSms), "the app sends to the SMS sink"
    return sink


def code_in(message: SentSms | dict[str, str]) -> str | None:
    text = message.text if isinstance(message, SentSms) else message["text"]
    found = _CODE.search(text)
    return found.group(1) if found else None


async def texts_to(
    client: httpx.AsyncClient, phone: str, sink: SinkSms | None = None
) -> list[SentSms]:
    """Newest first; ``sink`` for a client that talks to a server over a socket."""
    return await (sink or sink_of(client)).messages(normalize_phone(phone))


async def last_code(client: httpx.AsyncClient, phone: str, sink: SinkSms | None = None) -> str:
    """The newest code texted to ``phone``."""
    for message in await texts_to(client, phone, sink):
        code = code_in(message)
        if code is not None:
            return code
    raise AssertionError(f"no code was texted to {phone}")
