"""``signpost``: one command line for operators and developers."""

import os
import signal
import sys
import time
from pathlib import Path
from typing import Annotated

import typer

from signpost.settings import get_settings
from toolbox import stack

app = typer.Typer(
    help="Signpost: referral routing for integrated care.", no_args_is_help=True
)
topics_app = typer.Typer(help="Kafka topics.", no_args_is_help=True)
app.add_typer(topics_app, name="topics")
tokens_app = typer.Typer(
    help="Client tokens (development keys only).", no_args_is_help=True
)
app.add_typer(tokens_app, name="tokens")


def _rules_app() -> typer.Typer:
    from services.router.cli import rules_app

    return rules_app


app.add_typer(_rules_app(), name="rules")


def _directory_app() -> typer.Typer:
    from services.router.cli import directory_app

    return directory_app


app.add_typer(_directory_app(), name="directory")
audit_app = typer.Typer(help="The audit log.", no_args_is_help=True)
app.add_typer(audit_app, name="audit")


@audit_app.command("verify")
def audit_verify() -> None:
    """Check every chain of the audit log; exit 1 naming each edited, deleted, inserted or reordered row by chain and row."""
    import asyncio

    from services.audit.domain.chains import chain_name
    from services.audit.store.chains import verify

    result = asyncio.run(verify(_database_url("audit")))
    typer.echo(result.summary)
    for found in result.findings:
        typer.echo(
            f"  {chain_name(found.chain)}, row {found.seq} ({found.kind.value}): {found.finding.message}"
        )
    raise typer.Exit(0 if result.ok else 1)


@audit_app.command("prune")
def audit_prune(
    older_than_days: int = typer.Option(
        ..., min=1, help="prune rows recorded more than this many days ago"
    ),
    dry_run: bool = typer.Option(
        False, "--dry-run", help="say what would go; delete nothing"
    ),
    database_url: str | None = typer.Option(
        None,
        envvar="SIGNPOST_AUDIT_PRUNE_DATABASE_URL",
        show_default=False,
        help="the prune role's URL (`signpost db url audit-prune`); default: the local stack's prune role",
    ),
) -> None:
    """Retention: delete old rows, leaving an anchor so `audit verify` still checks the rest; refuses on a broken chain."""
    import asyncio
    from datetime import timedelta

    import asyncpg

    from services.audit.domain.retention import PruneRefused
    from services.audit.store.retention import prune

    # Never the audit service's own URL: its role may not delete (signpost/database_roles.py).
    url = (
        database_url
        or _local_database_url("audit-prune")
        or get_settings().database_url
    )
    try:
        result = asyncio.run(
            prune(url, timedelta(days=older_than_days), dry_run=dry_run)
        )
    except PruneRefused as refused:
        typer.echo(f"refused: {refused}", err=True)
        raise typer.Exit(1) from refused
    except asyncpg.InsufficientPrivilegeError as refused:
        typer.echo(
            f"refused: this role may not prune ({refused}); give the prune role's URL",
            err=True,
        )
        raise typer.Exit(1) from refused
    typer.echo(result.summary)


@audit_app.command("tail")
def audit_tail(
    agency: str | None = typer.Option(None, help="only this agency's events"),
    network: str | None = typer.Option(None, help="only this network's events"),
    event_type: Annotated[
        list[str] | None,
        typer.Option("--type", help="only these event types (repeatable)"),
    ] = None,
    since_id: str | None = typer.Option(
        None,
        "--since-id",
        help="start after this event id (seq), e.g. one a tail printed",
    ),
    client: str = typer.Option(
        "operations", help="development client to sign in as (or set SIGNPOST_TOKEN)"
    ),
) -> None:
    """Follow the live audit stream in the terminal; reconnects without missing or repeating an event."""
    from toolbox.audit_tail import follow
    from toolbox.tokens import dev_token

    settings = get_settings()

    def token() -> (
        str
    ):  # minted afresh for every connection: a development token outlives no long tail
        return os.environ.get("SIGNPOST_TOKEN") or dev_token(client)

    from signpost.service_urls import service_url

    params = {"agency": agency, "network": network, "event_type": event_type or None}
    url = service_url(settings, "audit")
    if settings.tls_cafile:  # the stream client trusts what httpx's default context trusts: the configured CA
        os.environ["SSL_CERT_FILE"] = settings.tls_cafile
    try:
        follow(
            url,
            token,
            {k: v for k, v in params.items() if v},
            _echo_now,
            last_event_id=since_id,
        )
    except KeyboardInterrupt:  # Ctrl-C is how a terminal stops following
        pass
    except PermissionError as refused:
        typer.echo(f"refused: {refused}", err=True)
        raise typer.Exit(1) from refused


def _echo_now(line: str) -> None:
    typer.echo(line)
    sys.stdout.flush()  # a pipe (grep, a log file) sees each event as it happens, not a buffer later


deadletters_app = typer.Typer(
    help="Dead letters: list them, replay them once the cause is fixed.",
    no_args_is_help=True,
)
app.add_typer(deadletters_app, name="deadletters")


def _notifier(
    method: str, path: str, client: str, **params: object
) -> dict[str, object]:
    import httpx

    from signpost.service_urls import service_url, verify
    from toolbox.tokens import dev_token

    settings = get_settings()
    token = os.environ.get("SIGNPOST_TOKEN") or dev_token(client)
    url = f"{service_url(settings, 'notifier')}{path}"
    query = {
        k: str(v).lower() if isinstance(v, bool) else str(v)
        for k, v in params.items()
        if v is not None
    }
    headers = {"Authorization": f"Bearer {token}"}
    response = httpx.request(
        method, url, params=query, headers=headers, timeout=30, verify=verify(settings)
    )
    if response.status_code >= 400:
        typer.echo(
            f"refused ({response.status_code}): {response.json().get('detail', response.text)}",
            err=True,
        )
        raise typer.Exit(1)
    body: dict[str, object] = response.json()
    return body


@deadletters_app.command("list")
def deadletters_list(
    referral_id: Annotated[
        str | None, typer.Option(help="only this referral's")
    ] = None,
    limit: int = 100,
    client: str = typer.Option(
        "operations", help="development client to act as (or set SIGNPOST_TOKEN)"
    ),
) -> None:
    """Dead letters, newest first: when, which consumer, from where, why (never the record itself)."""
    items = _notifier(
        "GET", "/v1/dead-letters", client, referral_id=referral_id, limit=limit
    )["items"]
    assert isinstance(items, list)
    for d in items:
        replayed = f"  replayed {d['replays']}x" if d["replays"] else ""
        where = (
            f"{d['original_topic']}[{d['original_partition']}]@{d['original_offset']}"
        )
        when = d["dead_lettered_at"][:19]
        typer.echo(
            f"{d['dead_letter_id']}  {when}  {d['consumer']:<30} {where}  {d['reason'][:120]}{replayed}"
        )
    typer.echo(f"{len(items)} dead letters")


@deadletters_app.command("replay")
def deadletters_replay(
    dead_letter_id: Annotated[
        str | None, typer.Argument(help="one dead letter's id")
    ] = None,
    referral_id: Annotated[
        str | None,
        typer.Option(help="every dead letter of this referral not yet replayed"),
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="send again what was replayed before")
    ] = False,
    client: str = typer.Option(
        "operations", help="development client to act as (or set SIGNPOST_TOKEN)"
    ),
) -> None:
    """Put dead-lettered records back on their topics; consumers apply each event at most once."""
    if (dead_letter_id is None) == (referral_id is None):
        typer.echo("give a dead letter id or --referral-id, not both", err=True)
        raise typer.Exit(2)
    if dead_letter_id:
        done = _notifier(
            "POST", f"/v1/dead-letters/{dead_letter_id}/replay", client, force=force
        )
        typer.echo(f"replayed {done['dead_letter_id']} onto {done['original_topic']}")
    else:
        replayed = _notifier(
            "POST",
            "/v1/dead-letters/replay",
            client,
            referral_id=referral_id,
            force=force,
        )["replayed"]
        assert isinstance(replayed, list)
        typer.echo(f"replayed {len(replayed)} dead records of referral {referral_id}")


STATE_DIR = Path(os.environ.get("SIGNPOST_STATE_DIR", stack.REPO / ".signpost"))
# A stack says where its roles' passwords are (toolbox/stack.py sets it for every process it runs): a test
# stack's tools must never take the passwords `make run` left in this checkout's .signpost for another server.
DATABASE_ROLES_FILE = Path(
    os.environ.get("SIGNPOST_DATABASE_ROLES_FILE", STATE_DIR / "database-roles.json")
)


def _local_database_url(login: str) -> str | None:
    """``login``'s URL on the local stack's server, when ``make run`` provisioned it here."""
    if not DATABASE_ROLES_FILE.exists():
        return None
    from signpost.database_roles import urls

    server = (
        os.environ.get("SIGNPOST_DATABASE_ADMIN_URL") or get_settings().database_url
    )
    return urls(server, DATABASE_ROLES_FILE).get(login)


def _database_url(login: str) -> str:
    """``SIGNPOST_DATABASE_URL`` when given (a deployer gives the service's own), else the local stack's ``login``."""
    if os.environ.get("SIGNPOST_DATABASE_URL"):
        return get_settings().database_url
    return _local_database_url(login) or get_settings().database_url


db_app = typer.Typer(
    help="PostgreSQL: each service's own role and schema.", no_args_is_help=True
)
app.add_typer(db_app, name="db")
_ADMIN_URL = typer.Option(
    None,
    envvar="SIGNPOST_DATABASE_ADMIN_URL",
    show_default=False,
    help="a superuser's URL for the database (default: SIGNPOST_DATABASE_URL)",
)
_ROLES_FILE = typer.Option(
    DATABASE_ROLES_FILE, help="where the roles' passwords are kept (mode 0600)"
)


@db_app.command("provision")
def db_provision(
    admin_url: str | None = _ADMIN_URL, roles_file: Path = _ROLES_FILE
) -> None:
    """Create (or bring back to least privilege) each service's role and schema, and apply audit's migrations."""
    import asyncio

    from signpost.database_roles import LOGINS, ProvisionRefused, provision

    try:
        asyncio.run(provision(admin_url or get_settings().database_url, roles_file))
    except ProvisionRefused as refused:
        typer.echo(f"refused: {refused}", err=True)
        raise typer.Exit(1) from refused
    for login, role in LOGINS.items():
        typer.echo(f"{login:<12} connects as {role}")
    typer.echo(
        f"passwords in {roles_file}; `signpost db url SERVICE` prints one's SIGNPOST_DATABASE_URL"
    )


@db_app.command("url")
def db_url(
    login: Annotated[
        str, typer.Argument(help="intake, router, notifier, audit or audit-prune")
    ],
    admin_url: str | None = _ADMIN_URL,
    roles_file: Path = _ROLES_FILE,
) -> None:
    """Print the connection URL (password included) one service, or the prune command, uses."""
    from signpost.database_roles import LOGINS, urls

    url = (
        urls(admin_url or get_settings().database_url, roles_file).get(login)
        if roles_file.exists()
        else None
    )
    if url is None:
        typer.echo(
            f"no {login!r} in {roles_file}; logins: {', '.join(LOGINS)} (run `signpost db provision` first)",
            err=True,
        )
        raise typer.Exit(2)
    typer.echo(url)


def _agencies() -> list[str]:
    from services.router.inputs import known_agencies
    from signpost.settings import Settings

    return known_agencies(Settings())


@topics_app.command("create")
def topics_create() -> None:
    """Create the core and agency topics that do not exist yet."""
    from signpost.kafka_security import client_kwargs

    settings = get_settings()
    created = stack.create_topics(
        settings.kafka_bootstrap, _agencies(), **client_kwargs(settings)
    )
    typer.echo(
        f"created {len(created)} topics"
        + (f": {', '.join(created)}" if created else "")
    )


@tokens_app.command("mint")
def tokens_mint(
    client: str = typer.Option(..., help="client id from deploy/dev/clients.yaml"),
    lifetime: int = 900,
) -> None:
    """Print a signed bearer token for a development client."""
    from toolbox.tokens import dev_token

    typer.echo(dev_token(client, lifetime))


@tokens_app.command("dev-registry")
def tokens_dev_registry() -> None:
    """Regenerate the development client registry and its (public, dev-only) private keys."""
    from toolbox.tokens import write_dev_registry

    write_dev_registry()
    typer.echo("wrote deploy/dev/clients.yaml and deploy/dev/keys/")


@app.command()
def run() -> None:
    """Start Kafka (SASL_SSL), PostgreSQL and the four services (HTTPS); stop them all on Ctrl-C."""
    from toolbox import local_stack

    settings = local_stack.development_client()
    stopping = False

    def on_signal(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    typer.echo("starting Kafka (SASL_SSL), PostgreSQL and the services (HTTPS) ...")
    with local_stack.started(settings) as running:
        typer.echo(
            f"kafka     {running.kafka_bootstrap}  (SASL_SSL; principals in {STATE_DIR / 'kafka-secure'})"
        )
        typer.echo(f"postgres  {running.database_url}")
        for service in stack.SERVICES:
            typer.echo(
                f"{service:<9} {running.url(service)}  (docs {running.url(service)}/docs, log {running.log_file(service)})"
            )
        typer.echo(
            f"Clients trust the local CA: export SIGNPOST_TLS_CAFILE={settings.tls_cafile}"
        )
        typer.echo("Signpost is running. Press Ctrl-C to stop.")
        while not stopping:
            for service, proc in list(running.processes.items()):
                if proc.poll() is not None:
                    typer.echo(
                        f"{service} exited with {proc.returncode}; restarting", err=True
                    )
                    running.start_service(service)
            time.sleep(0.5)
        typer.echo("stopping services ...")
    typer.echo("stopped.")


@app.command()
def demo() -> None:
    """Submit referrals to a running stack (or one started for the demo) and print their trails."""
    from toolbox.demo import main as demo_main

    sys.exit(demo_main())


if __name__ == "__main__":
    app()
