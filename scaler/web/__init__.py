"""The HTTP port: /metrics, /healthz, /readyz, /api/plan and the status page."""

from scaler.web.server import WebServer

__all__ = ["WebServer"]
