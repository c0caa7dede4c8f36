"""Where a client (the command line, the demo, one service relaying to another) reaches a service, and what it trusts.

A service given a certificate serves HTTPS only; a client given
``SIGNPOST_TLS_CAFILE`` speaks HTTPS and trusts that CA (the local one that
``make run`` creates, or a deployment's own). Without either, plain HTTP:
development only, since a service outside development mode refuses to start
without a certificate.
"""

import ssl
from functools import lru_cache

from signpost.settings import Settings


@lru_cache(maxsize=4)
def _context(cafile: str) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=cafile)


def scheme(settings: Settings) -> str:
    return "https" if settings.tls_cafile or settings.tls_certfile else "http"


def verify(settings: Settings) -> ssl.SSLContext | bool:
    """httpx's ``verify=``: the configured CA, else the system's."""
    return _context(settings.tls_cafile) if settings.tls_cafile else True


def service_url(settings: Settings, service: str) -> str:
    """The service's own URL setting when given (a pod reaches another through its Service name), else this host.

    ``http_host`` is where a service listens: ``0.0.0.0`` in a container, which is no address to call.
    """
    given: str | None = getattr(settings, f"{service}_url", None)
    if given:
        return given.rstrip("/")
    return f"{scheme(settings)}://{settings.http_host}:{settings.port_for(service)}"
