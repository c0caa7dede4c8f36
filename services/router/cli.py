"""``signpost rules``: check and try out routing rules before they go live."""

import asyncio
from datetime import datetime
from pathlib import Path
from typing import Annotated
from uuid import UUID

import asyncpg
import typer

from schemas.clock import judged_on
from schemas.referral import Referral
from services.router.domain import directory as directory_module
from services.router.domain import rules as rules_module
from services.router.domain.simulate import compare
from signpost.settings import get_settings

rules_app = typer.Typer(help="Routing rules.", no_args_is_help=True)


@rules_app.command("validate")
def validate(rules: Annotated[Path, typer.Argument(exists=True, help="a rule-set YAML file")]) -> None:
    """Check a rule set; print its version (content hash)."""
    rule_set = rules_module.load(rules)
    typer.echo(f"{rules}: {len(rule_set.rules)} rules, version {rule_set.version}, max_declines {rule_set.max_declines}")


@rules_app.command("simulate")
def simulate(
    rules: Annotated[Path, typer.Option(exists=True, help="the candidate rule-set YAML")],
    directory: Annotated[Path | None, typer.Option(help="directory seed file or folder (default: the router's)")] = None,
) -> None:
    """Replay stored referrals through a candidate rule set; exit 1 if any would become unroutable."""
    settings = get_settings()
    root = Path(__file__).resolve().parents[2]
    current = rules_module.load(root / settings.rules_path)
    candidate = rules_module.load(rules)
    area = directory_module.load(directory or root / settings.directory_path)
    stored = asyncio.run(_stored(settings.database_url))
    changes = compare(stored, area, current, candidate)
    for change in changes:
        before, after = ", ".join(change.before) or "unroutable", ", ".join(change.after) or "UNROUTABLE"
        typer.echo(f"{change.referral_id}: {before} -> {after}  [{'; '.join(change.responsible)}]")
    unroutable = sum(c.becomes_unroutable for c in changes)
    typer.echo(f"{len(stored)} referrals replayed, {len(changes)} decisions change, {unroutable} would become unroutable"
               f" (rule set {current.version} -> {candidate.version})")  # fmt: skip
    raise typer.Exit(1 if unroutable else 0)


async def _stored(url: str) -> list[tuple[UUID, Referral, datetime]]:
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch(
            "SELECT referral_id, referral::text AS body, decided_at FROM router.decisions ORDER BY decided_at"
        )
    finally:
        await conn.close()
    out = []
    for row in rows:
        # Judged on the day it was decided, as the router did.
        with judged_on(row["decided_at"].date()):
            out.append((row["referral_id"], Referral.model_validate_json(row["body"]), row["decided_at"]))
    return out


directory_app = typer.Typer(help="The service directory (kept by the router in PostgreSQL).", no_args_is_help=True)
MIGRATIONS = Path(__file__).parent / "migrations"


@directory_app.command("validate")
def directory_validate(paths: Annotated[list[Path], typer.Argument(exists=True, help="seed YAML files or folders")]) -> None:
    """Check seed files: every field, every reference between them; exit 1 naming each problem."""
    failed = False
    for path in paths:
        try:
            area = directory_module.load(path)
        except (ValueError, OSError) as exc:  # pydantic's ValidationError is a ValueError
            failed = True
            typer.echo(f"{path}: INVALID\n{exc}", err=True)
        else:
            typer.echo(f"{path}: valid; {len(area.networks)} networks, {len(area.services)} services,"
                       f" {len(area.organisations)} organisations (content {area.content_version})")  # fmt: skip
    raise typer.Exit(1 if failed else 0)


@directory_app.command("load")
def directory_load(paths: Annotated[list[Path], typer.Argument(exists=True, help="seed YAML files or folders")]) -> None:
    """Replace the directory with these seeds (services keep their live status); the router uses it at its next batch."""
    from services.router import directory_store
    from signpost import database
    from signpost.topics import agency_topics, ensure_topics

    area = directory_module.merge([directory_module.load(p) for p in paths])
    settings = get_settings()

    async def load() -> int:
        pool = await database.connect(settings.database_url, schema="router", max_size=1)
        try:
            await database.migrate(pool, "router", MIGRATIONS)
            async with pool.acquire() as conn:
                return await directory_store.load(conn, area, source=", ".join(map(str, paths)))
        finally:
            await pool.close()

    load_id = asyncio.run(load())
    typer.echo(f"loaded {area.area}: {len(area.services)} services in {len(area.networks)} networks"
               f" (load {load_id}, content {area.content_version})")  # fmt: skip
    try:
        created = asyncio.run(ensure_topics(settings.kafka_bootstrap, agency_topics(area.agency_ids())))
        typer.echo(f"agency topics: {len(created)} created")
    except Exception as exc:  # noqa: BLE001 - the directory is loaded either way; say what is still to do
        typer.echo(f"agency topics not checked ({type(exc).__name__}); run `signpost topics create` when Kafka is up", err=True)


@directory_app.command("list")
def directory_list(
    network: Annotated[str | None, typer.Option(help="only this network's services")] = None,
    service_type: Annotated[str | None, typer.Option("--type", help="only this service type, e.g. community_pharmacy")] = None,
) -> None:
    """The services as the router sees them now, with their live status."""
    from services.router import directory_store
    from signpost import database

    async def read() -> directory_module.Directory | None:
        pool = await database.connect(get_settings().database_url, schema="router", max_size=1)
        try:
            async with pool.acquire() as conn:
                return await directory_store.read(conn)
        finally:
            await pool.close()

    area = asyncio.run(read())
    if area is None:
        typer.echo("the directory is empty: load it with `signpost directory load services/router/directory`", err=True)
        raise typer.Exit(1)
    shown = [s for s in area.services if (network is None or network in s.network_ids)
             and (service_type is None or s.service_type.value == service_type)]  # fmt: skip
    for s in shown:
        status = "accepting" if s.accepting else "NOT accepting"
        capacity = "" if s.capacity is None else f", capacity {s.capacity}"
        typer.echo(f"{s.service_id:<40} {s.service_type.value:<22} {','.join(s.network_ids):<28} {status}{capacity}"
                   f" (since {s.capacity_updated_at:%Y-%m-%d %H:%M})")  # fmt: skip
    typer.echo(f"{len(shown)} of {len(area.services)} services (directory {area.content_version})")
