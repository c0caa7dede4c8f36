"""Structured JSON logs through structlog, with no patient identifiers.

Every line carries the service name and, when bound, the referral id and
correlation id (contextvars, so they follow a request or a message through
awaits). A last processor masks anything shaped like an NHS number, in case
one slips into a message by mistake.
"""

import contextlib
import logging
import os
import re
import sys
from collections.abc import Iterator, MutableMapping
from typing import Any

import structlog

from signpost import tracing

_NHS_NUMBER_SHAPE = re.compile(r"(?<!\d)\d{3}[ -]?\d{3}[ -]?\d{4}(?!\d)")


def _mask_nhs_numbers(
    _: Any, __: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    for key, value in event_dict.items():
        if isinstance(value, str) and _NHS_NUMBER_SHAPE.search(value):
            event_dict[key] = _NHS_NUMBER_SHAPE.sub("[redacted]", value)
    return event_dict


def configure(service: str, level: str = "INFO") -> None:
    """Send structlog and stdlib logging (uvicorn, aiokafka) as JSON lines to stdout."""
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    structlog.configure(
        processors=[
            *shared,
            structlog.processors.format_exc_info,
            _mask_nhs_numbers,
            structlog.processors.JSONRenderer(),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelName(level)
        ),
        logger_factory=structlog.PrintLoggerFactory(sys.stdout),
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                _mask_nhs_numbers,
                structlog.processors.JSONRenderer(),
            ],
        )
    )
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(level)
    # aiokafka is chatty at INFO about every group join; keep warnings.
    logging.getLogger("aiokafka").setLevel(logging.WARNING)
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(service=service)
    if instance := os.environ.get("SIGNPOST_INSTANCE"):
        # One of several processes of this service (toolbox/stack.py names them): which one said it.
        structlog.contextvars.bind_contextvars(instance=instance)


def bind(**values: Any) -> None:
    structlog.contextvars.bind_contextvars(**values)


def get_logger() -> Any:
    return structlog.get_logger()


@contextlib.contextmanager
def about(referral_id: object, correlation_id: str) -> Iterator[None]:
    """Bind the referral and correlation ids to log lines inside; on the way out, what was bound before.

    Not ``structlog.contextvars.bound_contextvars``: to restore, it copies and walks the whole context,
    once per record on the consuming path; the tokens of ``bind_contextvars`` restore it for less.
    No referral (an agency's report names only its assignment) binds none, not the word "None".
    """
    ids = {"correlation_id": correlation_id}
    if referral_id is not None:
        ids["referral_id"] = str(referral_id)
    tokens = structlog.contextvars.bind_contextvars(**ids)
    try:
        yield
    finally:
        structlog.contextvars.reset_contextvars(**tokens)


@contextlib.contextmanager
def handling(
    topic: str, headers: dict[str, str], referral_id: object, correlation_id: str
) -> Iterator[None]:
    """Handle one consumed record: its ids on every log line, its trace continued."""
    with (
        about(referral_id, correlation_id),
        tracing.continuing(f"consume {topic}", headers),
    ):
        yield
