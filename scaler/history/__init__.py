"""History from Prometheus: the I/O beside the sources that sizes `like` events."""

from scaler.history.prometheus import (
    DEFAULT_QUERY,
    HEADER_ENV_PREFIX,
    HistoryLimits,
    PrometheusClient,
    headers_from_env,
    render_query,
)

__all__ = [
    "DEFAULT_QUERY",
    "HEADER_ENV_PREFIX",
    "HistoryLimits",
    "PrometheusClient",
    "headers_from_env",
    "render_query",
]
