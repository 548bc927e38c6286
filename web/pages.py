"""Rendering a page shell: the template, the language, and the messages its scripts need.

Japanese is the default; ``?lang=en`` switches and a cookie remembers the choice. Each
client keeps its strings in ``messages/<client>.json`` as ``{"key": {"ja": …, "en": …}}``
next to ``messages/common.json``; a page gets common + its own, both for the template
(``t("key")``) and for its scripts (embedded as JSON, read by ``core.js``).
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any, Literal

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

HERE = Path(__file__).parent
STATIC_DIR = HERE / "static"
LANG_COOKIE = "machipay_lang"
Lang = Literal["ja", "en"]
LANGS: tuple[Lang, ...] = ("ja", "en")

templates = Jinja2Templates(directory=HERE / "templates")


@cache
def _catalogue(name: str) -> dict[str, dict[str, str]]:
    path = HERE / "messages" / f"{name}.json"
    data: dict[str, dict[str, str]] = json.loads(path.read_text(encoding="utf-8"))
    return data


def messages(client: str, lang: Lang) -> dict[str, str]:
    """Common + the client's strings in one language (falling back to Japanese)."""
    merged = {**_catalogue("common"), **_catalogue(client)}
    return {key: texts.get(lang) or texts["ja"] for key, texts in merged.items()}


def language_of(request: Request) -> Lang:
    asked = request.query_params.get("lang") or request.cookies.get(LANG_COOKIE)
    return "en" if asked == "en" else "ja"


def map_json(request: Request) -> str:
    """The shop directory's map settings for its script (``<`` escaped: inside a <script>)."""
    settings = request.app.state.settings
    config = {"tile_url": settings.map_tile_url, "attribution": settings.map_tile_attribution}
    return json.dumps(config, ensure_ascii=False).replace("<", "\\u003c")


def render(
    request: Request, template: str, *, client: str, title_key: str, **context: Any
) -> HTMLResponse:
    lang = language_of(request)
    strings = messages(client, lang)

    def t(key: str, **values: Any) -> str:
        text = strings.get(key, key)
        return text.format(**values) if values else text

    response = templates.TemplateResponse(
        request,
        template,
        {
            "lang": lang,
            "other_lang": "en" if lang == "ja" else "ja",
            "client": client,
            "t": t,
            "title": t(title_key),
            "messages_json": json.dumps(strings, ensure_ascii=False),
            **context,
        },
    )
    if request.query_params.get("lang") in LANGS:
        response.set_cookie(LANG_COOKIE, lang, max_age=365 * 86400, samesite="lax")
    # Pages are shells: data comes from the API with the user's token, never cached HTML.
    response.headers["Cache-Control"] = "no-store"
    return response
