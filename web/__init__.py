"""The four web clients (resident app, merchant dashboard, ward console, analyst console).

Server-rendered page shells (Jinja2) plus small ES modules that call the same public
HTTP API as every other client: the pages hold no business rule of their own.
"""

from web.routes import install_web

__all__ = ["install_web"]
