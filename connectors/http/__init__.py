"""The HTTP API of the embedded runtime (aiohttp): events, browser subscriptions and
reports, campaign stats, metrics, the SDK files."""

from connectors.http.app import ApiContext, build_app

__all__ = ["ApiContext", "build_app"]
