"""The embedded runtime's campaign stats: the shared definitions and table live in
`engine.shell.stats` (the Kafka workers print the same rows)."""

from engine.shell.stats import COLUMNS, COUNTS, TEST_COUNTS, campaign_stats, format_table

__all__ = ["COLUMNS", "COUNTS", "TEST_COUNTS", "campaign_stats", "format_table"]
