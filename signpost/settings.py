"""Runtime settings, read from ``SIGNPOST_*`` environment variables.

One place defines every setting so the README, the compose file and the
launcher agree; a test checks the compose file names each one the code reads.
"""

from functools import lru_cache

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_PORTS = {"intake": 8001, "router": 8002, "notifier": 8003, "audit": 8004}


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SIGNPOST_", extra="ignore")

    kafka_bootstrap: str = "127.0.0.1:9092"
    # This service's own Kafka principal (SASL/SCRAM-SHA-512); unset means plaintext (see signpost/kafka_security.py).
    kafka_sasl_username: str | None = None
    kafka_sasl_password: SecretStr | None = None
    database_url: str = "postgresql://postgres@127.0.0.1:5432/signpost"
    # Keyed hash for patient keys. The default is for local development only.
    pseudonym_key: SecretStr = SecretStr("dev-only-pseudonym-key-change-me")
    http_host: str = "127.0.0.1"
    intake_port: int = DEFAULT_PORTS["intake"]
    router_port: int = DEFAULT_PORTS["router"]
    notifier_port: int = DEFAULT_PORTS["notifier"]
    audit_port: int = DEFAULT_PORTS["audit"]
    log_level: str = "INFO"
    # Registry of client systems and their public keys (see signpost/auth.py).
    clients_file: str = "deploy/dev/clients.yaml"
    # Consumers take up to this many records per poll and handle them in one transaction.
    consumer_batch_size: int = Field(default=500, ge=1, le=10_000)
    # A consumed record larger than this is dead-lettered unread (referrals are a few kilobytes).
    max_event_bytes: int = Field(default=1_048_576, ge=1024)
    # Router: which service directory and rule set to load.
    directory_path: str = "services/router/directory"
    rules_path: str = "services/router/rules/default.yaml"
    # Router: how long a status a service reports (accepting, capacity) holds at most before it lapses.
    directory_status_hours: float = Field(default=24.0, gt=0, le=14 * 24)
    # Notifier: how often it looks for SLA timers that fell due.
    sla_check_interval_s: float = Field(default=2.0, gt=0, le=300)
    # Notifier: how often it looks for webhook deliveries that are due (when the last round found none).
    webhook_check_interval_s: float = Field(default=1.0, gt=0, le=60)
    # Development and tests only: lets a webhook use http and point at this machine or a private network.
    # Off, a webhook must be https to public addresses (see services/notifier/domain/webhook_targets.py).
    webhook_allow_private: bool = False
    # Demos only: every SLA timer falls due this many seconds apart instead of by the policy.
    sla_demo_seconds: float | None = Field(default=None, gt=0)

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
            raise ValueError("dead_letter_retention_days must be shorter than inbox_retention_days")
        return self

    def port_for(self, service: str) -> int:
        port: int = getattr(self, f"{service}_port")
        return port


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
