"""Audit's HTTP routers, one module per resource: trails, the live stream, reports, operations queues, the page."""
