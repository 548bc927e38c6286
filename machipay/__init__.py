"""machipay's kernel: settings, database, errors, cache, logging, app factory and CLI."""

__version__ = "0.1.0"
