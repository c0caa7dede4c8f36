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
