"""machipay's infrastructure: settings, database, errors, cache, logging, idempotency,
outbox and auth primitives. It imports no context (the app factory and CLI are in
``assembly``)."""

__version__ = "0.1.0"
