"""Runtime settings, read from ``SIGNPOST_*`` environment variables.

One place defines every setting so the README, the compose file and the
launcher agree; a test checks the compose file names each one the code reads.
"""

from functools import lru_cache
from pathlib import Path

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_PORTS = {"intake": 8001, "router": 8002, "notifier": 8003, "audit": 8004}
# The committed development identities: public in this repository, accepted only in development mode.
DEV_DIR = Path(__file__).resolve().parent.parent / "deploy" / "dev"
DEV_CLIENTS_FILE = "deploy/dev/clients.yaml"
DEV_PSEUDONYM_KEY = "dev-only-pseudonym-key-change-me"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SIGNPOST_", extra="ignore")

    kafka_bootstrap: str = "127.0.0.1:9092"
    # This service's own Kafka principal (SASL/SCRAM-SHA-512); unset means plaintext (see signpost/kafka_security.py).
    kafka_sasl_username: str | None = None
    kafka_sasl_password: SecretStr | None = None
    database_url: str = "postgresql://postgres@127.0.0.1:5432/signpost"
    # Keyed hash for patient keys. Empty means not given: development mode fills in DEV_PSEUDONYM_KEY,
    # anywhere else a service refuses to start (see signpost/startup_checks.py).
    pseudonym_key: SecretStr = SecretStr("")
    http_host: str = "127.0.0.1"
    intake_port: int = DEFAULT_PORTS["intake"]
    router_port: int = DEFAULT_PORTS["router"]
    notifier_port: int = DEFAULT_PORTS["notifier"]
    audit_port: int = DEFAULT_PORTS["audit"]
    log_level: str = "INFO"
    # Registry of client systems and their public keys (see signpost/auth.py). Empty means not given:
    # development mode fills in DEV_CLIENTS_FILE, anywhere else a service refuses to start.
    clients_file: str = ""
    # Consumers take up to this many records per poll and handle them in one transaction.
    consumer_batch_size: int = Field(default=500, ge=1, le=10_000)
    # A consumed record larger than this is dead-lettered unread (referrals are a few kilobytes).
    max_event_bytes: int = Field(default=1_048_576, ge=1024)
    # Router: which service directory and rule set to load.
    directory_path: str = "services/router/directory"
    rules_path: str = "services/router/rules/default.yaml"
    # Every service: the area files that word its texts (signpost/terminology.py); a folder of <area>.yaml or one file.
    areas_path: str = "deploy/areas"
    # Router: how long a status a service reports (accepting, capacity) holds at most before it lapses.
    directory_status_hours: float = Field(default=24.0, gt=0, le=14 * 24)
    # Notifier: how often it looks for SLA timers that fell due.
    sla_check_interval_s: float = Field(default=2.0, gt=0, le=300)
    # Notifier: how often it looks for webhook deliveries that are due (when the last round found none).
    webhook_check_interval_s: float = Field(default=1.0, gt=0, le=60)
    # Development and tests only: lets a webhook use http and point at this machine or a private network.
    # Off, a webhook must be https to public addresses (see services/notifier/domain/webhooks/targets.py).
    webhook_allow_private: bool = False
    # Demos only: every SLA timer falls due this many seconds apart instead of by the policy.
    sla_demo_seconds: float | None = Field(default=None, gt=0)

    # --- Secure by default (issue 14): development mode, TLS, HTTP server limits ---
    # Development and tests only (`make run`, `make demo`, the test suite): accept the committed identities in
    # deploy/dev/, plaintext Kafka and plain HTTP. Off, a service refuses to start with any of them.
    development_mode: bool = False
    # CA that signs the Kafka broker's certificate: set, every Kafka client speaks SASL_SSL and verifies the broker.
    kafka_ssl_cafile: str | None = None
    # This service's HTTPS certificate (chain) and private key, PEM; both set, it serves TLS only.
    tls_certfile: str | None = None
    tls_keyfile: str | None = None
    # CA that the command line, the demo and the tests trust for the services' HTTPS.
    tls_cafile: str | None = None
    # Where another service's HTTP API is, e.g. https://signpost-router:8002 on a cluster. Unset, a client calls
    # http_host at that service's port, which only works when they share a host (a local stack, the tests).
    intake_url: str | None = None
    router_url: str | None = None
    notifier_url: str | None = None
    audit_url: str | None = None
    # HTTP server limits against slow or greedy clients (uvicorn): at most this many connections and requests in
    # flight (503 past it), idle keep-alive closed after timeout_keep_alive_s, a request's head and body must
    # arrive within http_read_timeout_s (408 / closed otherwise), and the listen backlog.
    http_limit_concurrency: int = Field(default=1000, ge=1)
    http_timeout_keep_alive_s: int = Field(default=30, ge=1, le=600)
    http_read_timeout_s: float = Field(default=15.0, gt=0, le=600)
    http_backlog: int = Field(default=2048, ge=1)

    @model_validator(mode="after")
    def _development_identities(self) -> "Settings":
        """Development mode, and only it, falls back to the committed registry and pseudonym key."""
        if self.development_mode:
            if not self.clients_file:
                self.clients_file = DEV_CLIENTS_FILE
            if not self.pseudonym_key.get_secret_value():
                self.pseudonym_key = SecretStr(DEV_PSEUDONYM_KEY)
        return self

    # Abuse limits (signpost/rate_limit.py). Requests per client in the `limits` notation, "N/second;M/minute"
    # meaning each must hold, over a sliding window. A practice sends about 200 referrals a week at peak; its
    # allowance lets a system flush a day's backlog after an outage in one burst, while one runaway client
    # is held far below what intake can take. The counts are per instance of a service.
    rate_limit_referrer: str = "300/minute"
    rate_limit_agency: str = "300/minute"
    rate_limit_operations: str = "600/minute"
    # Clients with an allowance of their own, by client id, e.g. {"gp-federation-x": "1200/minute"} (JSON).
    rate_limit_clients: dict[str, str] = Field(default_factory=dict)
    # Audit's live stream: at most this many open at once for one client, and in all, on one instance.
    audit_streams_per_client: int = Field(default=3, ge=1, le=100)
    audit_streams_total: int = Field(default=50, ge=1, le=10_000)
    # Connections the live streams read through, apart from (and never taken from) the recorder's pool.
    audit_stream_pool_size: int = Field(default=3, ge=1, le=50)
    # How often an open stream re-reads the client registry: a revoked client loses its stream within this.
    audit_stream_recheck_s: float = Field(default=2.0, gt=0, le=60)

    @field_validator(
        "rate_limit_referrer", "rate_limit_agency", "rate_limit_operations"
    )
    @classmethod
    def _rate(cls, value: str) -> str:
        return _valid_rate(value)

    @field_validator("rate_limit_clients")
    @classmethod
    def _client_rates(cls, value: dict[str, str]) -> dict[str, str]:
        return {client: _valid_rate(rate) for client, rate in value.items()}

    def rate_limits_by_role(self) -> dict[str, str]:
        return {
            "referrer": self.rate_limit_referrer,
            "agency": self.rate_limit_agency,
            "operations": self.rate_limit_operations,
        }

    # Retention (signpost/retention.py): how long each service keeps its working copies of personal data.
    retention_check_interval_s: float = Field(default=3600.0, gt=0, le=86_400)
    # Published outbox rows: the event is on Kafka by then; a week leaves time to investigate a bad publish.
    outbox_retention_days: float = Field(default=7.0, gt=0)
    # Inbox ids (processed_events). Kafka redelivers a record only while it is on its topic: after a rewind, a
    # crash before the commit, or a group whose committed offsets expired (7 days unused) reading from the earliest
    # record kept. Topic retention is the broker default, 7 days (our topics set none): no redelivery is older;
    # 30 days is well past it. A dead-letter replay sends an old record again too, so dead letters go sooner (below).
    inbox_retention_days: float = Field(default=30.0, ge=14)
    # Notifier: finished webhook deliveries (delivered, given up, handed to Kafka) with the body they sent.
    webhook_retention_days: float = Field(default=7.0, gt=0)
    # Dead letters and the originals they keep: replayable for this long, and it must be shorter than the inbox
    # window, so that a replayed record a consumer had already handled is still recognised.
    dead_letter_retention_days: float = Field(default=28.0, gt=0)

    @model_validator(mode="after")
    def _replays_within_the_inbox_window(self) -> "Settings":
        if self.dead_letter_retention_days >= self.inbox_retention_days:
            raise ValueError(
                "dead_letter_retention_days must be shorter than inbox_retention_days"
            )
        return self

    def port_for(self, service: str) -> int:
        port: int = getattr(self, f"{service}_port")
        return port


def _valid_rate(value: str) -> str:
    """Refuse at start-up a limit the limiter could not read, rather than at a client's first request."""
    from limits import parse_many

    try:
        parse_many(value)
    except ValueError as exc:
        raise ValueError(
            f"not a rate limit such as '300/minute' or '20/second;300/minute': {value!r}"
        ) from exc
    return value


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
