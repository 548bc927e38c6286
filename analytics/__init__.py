"""Anonymised analytics: outbox consumer, pseudonymised facts, disclosure-controlled
queries, and the campaign views that read them (cost estimate, effect report, reward
totals: ``analytics.campaign_reports``)."""

from analytics.ingest import ingest_all, ingest_batch, lag, run_consumer_forever
from analytics.query import Answer, Query, run_query

__all__ = [
    "Answer",
    "Query",
    "ingest_all",
    "ingest_batch",
    "lag",
    "run_consumer_forever",
    "run_query",
]
