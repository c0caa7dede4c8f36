"""Prometheus metrics every service exposes at ``/metrics``."""

from prometheus_client import Counter, Gauge, Histogram

CONSUMED = Counter("signpost_messages_consumed_total", "Messages consumed", ["topic"])
PRODUCED = Counter("signpost_messages_produced_total", "Messages produced", ["topic"])
DEAD_LETTERED = Counter(
    "signpost_dead_letters_total", "Messages sent to the dead-letter topic", ["topic"]
)
HANDLER_SECONDS = Histogram(
    "signpost_handler_seconds", "Time to handle one consumed batch", ["consumer"]
)
OUTBOX_DEPTH = Gauge(
    "signpost_outbox_depth", "Outbox rows waiting to be published", ["schema"]
)
OUTBOX_HELD = Gauge(
    "signpost_outbox_held",
    "1 while the relay holds a topic's rows back (missing, refused or too large); 0 once released",
    ["schema", "topic"],
)
CONSUMER_LAG = Gauge(
    "signpost_consumer_lag",
    "Records behind the partition's end",
    ["consumer", "topic", "partition"],
)
LOOP_ERRORS = Counter(
    "signpost_loop_errors_total",
    "Rounds of a background loop that raised (the loop went on)",
    ["loop"],
)
LOOP_PARKED = Counter(
    "signpost_loop_parked_total",
    "Rows a background loop set aside because handling them raised",
    ["loop"],
)
