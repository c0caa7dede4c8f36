"""``signpost rules`` and ``signpost directory``: check routing rules and seed directories before they go live."""

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated
from uuid import UUID

import asyncpg
import typer
import yaml
from pydantic import ValidationError

from schemas.clock import judged_on
from schemas.referral import Referral
from schemas.vocabulary import ServiceType
from services.router.domain import directory as directory_module
from services.router.domain import rules as rules_module
from services.router.domain.simulate import compare
from signpost.settings import get_settings

rules_app = typer.Typer(help="Routing rules.", no_args_is_help=True)


@rules_app.command("validate")
def validate(
    rules: Annotated[Path, typer.Argument(exists=True, help="a rule-set YAML file")],
) -> None:
    """Check a rule set; print its version (content hash)."""
    rule_set = rules_module.load(rules)
    typer.echo(
        f"{rules}: {len(rule_set.rules)} rules, version {rule_set.version}, max_declines {rule_set.max_declines}"
    )


@rules_app.command("simulate")
def simulate(
    rules: Annotated[
        Path, typer.Option(exists=True, help="the candidate rule-set YAML")
    ],
    directory: Annotated[
        Path | None,
        typer.Option(
            help="directory seed file or folder (default: the router's live directory in PostgreSQL)"
        ),
    ] = None,
) -> None:
    """Replay stored referrals through a candidate rule set; exit 1 if any would become unroutable.

    The directory is the one the router routes with now, live statuses included, unless ``--directory``
    names seeds to try instead (or the router has never loaded one).
    """
    settings = get_settings()
    root = Path(__file__).resolve().parents[2]
    current = rules_module.load(root / settings.rules_path)
    candidate = rules_module.load(rules)
    stored, live = asyncio.run(_stored(settings.database_url))
    seeds = directory or (None if live else root / settings.directory_path)
    area = directory_module.load(seeds) if seeds else live
    assert area is not None  # either the live directory or seeds to load
    typer.echo(
        f"directory: {f'seeds {seeds}' if seeds else 'live, from PostgreSQL'} (content {area.content_version})"
    )
    changes = compare(stored, area, current, candidate)
    for change in changes:
        before, after = (
            ", ".join(change.before) or "unroutable",
            ", ".join(change.after) or "UNROUTABLE",
        )
        typer.echo(
            f"{change.referral_id}: {before} -> {after}  [{'; '.join(change.responsible)}]"
        )
    unroutable = sum(c.becomes_unroutable for c in changes)
    typer.echo(
        f"{len(stored)} referrals replayed, {len(changes)} decisions change, {unroutable} would become unroutable"
        f" (rule set {current.version} -> {candidate.version})"
    )
    if unroutable:
        # A rule set that strands referrals is a clinical hazard (safety/hazard-log.yaml), not only a diff.
        typer.echo(
            f"HAZ-019: refused: this rule set would leave {unroutable} referrals unroutable"
        )
    raise typer.Exit(1 if unroutable else 0)


async def _stored(
    url: str,
) -> tuple[list[tuple[UUID, Referral, datetime]], directory_module.Directory | None]:
    """The referrals the router decided, oldest first, and its live directory (None if it never loaded one)."""
    from services.router.store import decisions
    from services.router.store import directory as directory_store
    from signpost import database

    pool = await database.connect(url, schema="router", max_size=1)
    try:
        async with pool.acquire() as conn:
            rows = await decisions.decided_referrals(conn)
            live = await directory_store.read(conn)
    finally:
        await pool.close()
    out = []
    for row in rows:
        # Judged on the day it was decided, as the router did.
        with judged_on(row["decided_at"].date()):
            out.append(
                (
                    row["referral_id"],
                    Referral.model_validate_json(row["body"]),
                    row["decided_at"],
                )
            )
    return out, live


directory_app = typer.Typer(
    help="The service directory (kept by the router in PostgreSQL).",
    no_args_is_help=True,
)
MIGRATIONS = Path(__file__).parent / "migrations"
_ID_FIELDS = ("service_id", "network_id", "ods_code")


def seed_problems(error: ValidationError, raw: object) -> list[str]:
    """One line per problem, saying where in the seed it is, e.g. ``services[3] (pharmacy-fa019).agency_id: Field required``."""
    lines: list[str] = []
    for problem in error.errors():
        where = _where(problem["loc"], raw)
        message = problem["msg"].removeprefix("Value error, ")
        # A whole-directory check (references between entries) reports several problems at once.
        lines.extend(
            f"{where}: {part}" if where else part for part in message.split("; ")
        )
    return lines


def _where(loc: tuple[int | str, ...], raw: object) -> str:
    path, node = "", raw
    for part in loc:
        if isinstance(part, int):
            node = node[part] if isinstance(node, list) and part < len(node) else None
            named = next(
                (
                    node[f]
                    for f in _ID_FIELDS
                    if isinstance(node, dict) and isinstance(node.get(f), str)
                ),
                None,
            )
            path += f"[{part}]" + (f" ({named})" if named else "")
        elif "[" in part:
            continue  # pydantic's name for one branch of a union ("literal['always']"), not a field in the file
        else:
            node = node.get(part) if isinstance(node, dict) else None
            path += f".{part}" if path else part
    return path


def _seed_files(path: Path) -> list[Path]:
    return sorted(path.glob("*.yaml")) if path.is_dir() else [path]


def read_seeds(
    paths: list[Path],
) -> tuple[directory_module.Directory | None, list[str]]:
    """The seeds merged into one directory, or every problem found in them, each naming its file."""
    areas, problems = [], []
    for path in paths:
        files = _seed_files(path)
        if not files:
            problems.append(f"{path}: no *.yaml seed files in this folder")
        for file in files:
            raw: object = None
            try:
                with (
                    file.open() as stream
                ):  # a stream, so that a YAML error names the file
                    raw = yaml.safe_load(stream)
                areas.append(directory_module.Directory.model_validate(raw))
            except (OSError, yaml.YAMLError) as exc:
                problems.append(f"{file}: {exc}")
            except ValidationError as exc:
                problems.extend(f"{file}: {line}" for line in seed_problems(exc, raw))
    if problems:
        return None, problems
    try:
        # Each file may be sound while two of them clash (the same service id in both, say).
        return directory_module.merge(areas), []
    except ValidationError as exc:
        return None, [
            f"{', '.join(map(str, paths))} together: {line}"
            for line in seed_problems(exc, None)
        ]


def _valid_or_exit(paths: list[Path]) -> directory_module.Directory:
    area, problems = read_seeds(paths)
    for line in problems:
        typer.echo(line, err=True)
    if area is None:
        typer.echo(f"INVALID: {len(problems)} problem(s); nothing was loaded", err=True)
        raise typer.Exit(1)
    return area


@directory_app.command("validate")
def directory_validate(
    paths: Annotated[
        list[Path], typer.Argument(exists=True, help="seed YAML files or folders")
    ],
) -> None:
    """Check seed files: every field, every reference between them; exit 1 naming each problem."""
    area = _valid_or_exit(paths)
    typer.echo(
        f"valid: {len(area.networks)} networks, {len(area.services)} services,"
        f" {len(area.organisations)} organisations (content {area.content_version})"
    )


@directory_app.command("load")
def directory_load(
    paths: Annotated[
        list[Path], typer.Argument(exists=True, help="seed YAML files or folders")
    ],
) -> None:
    """Replace the directory with these seeds (live status kept unless a seed changes it); routing uses it at its next batch."""
    from services.router.store import directory as directory_store
    from signpost import database
    from signpost.topics import agency_topics, ensure_topics

    area = _valid_or_exit(paths)
    settings = get_settings()

    async def load() -> int:
        pool = await database.connect(
            settings.database_url, schema="router", max_size=1
        )
        try:
            await database.migrate(pool, "router", MIGRATIONS)
            async with pool.acquire() as conn:
                return await directory_store.load(
                    conn, area, source=", ".join(map(str, paths))
                )
        finally:
            await pool.close()

    load_id = asyncio.run(load())
    typer.echo(
        f"loaded {area.area}: {len(area.services)} services in {len(area.networks)} networks"
        f" (version {area.version}, content {area.content_version}, load {load_id})"
    )
    try:
        created = asyncio.run(
            ensure_topics(settings.kafka_bootstrap, agency_topics(area.agency_ids()))
        )
        typer.echo(f"agency topics: {len(created)} created")
    except Exception as exc:  # noqa: BLE001 - the directory is loaded either way; say what is still to do
        typer.echo(
            f"agency topics not checked ({type(exc).__name__}); run `signpost topics create` when Kafka is up",
            err=True,
        )


def service_table(
    services: list[directory_module.Service], updated_by: dict[str, str], now: datetime
) -> list[str]:
    """The rows ``directory list`` prints: a header, then one service a line with its live status and who set it when.

    The status is as routing sees it at ``now``: a lapsed report reads "yes" and "-", with "(lapsed)" after who set it.
    """
    lines = [
        f"{'SERVICE':<32} {'TYPE':<22} {'NETWORKS':<24} {'ACCEPTING':<9} {'CAPACITY':>8}  UPDATED"
    ]
    for s in services:
        free = directory_module.capacity_at(s, now)
        capacity = "-" if free is None else str(free)
        accepting = "yes" if directory_module.accepting_at(s, now) else "NO"
        lapsed = " (lapsed)" if directory_module.status_lapsed(s, now) else ""
        updated = f"{s.capacity_updated_at:%Y-%m-%d %H:%M} by {updated_by.get(s.service_id, '?')}{lapsed}"
        networks = ",".join(s.network_ids)
        lines.append(
            f"{s.service_id:<32} {s.service_type.value:<22} {networks:<24} {accepting:<9} {capacity:>8}  {updated}"
        )
    return lines


@directory_app.command("list")
def directory_list(
    network: Annotated[
        str | None, typer.Option(help="only this network's services")
    ] = None,
    service_type: Annotated[
        ServiceType | None, typer.Option("--type", help="only this service type")
    ] = None,
) -> None:
    """The services as the router sees them now, with their live status."""
    from services.router.store import directory as directory_store
    from signpost import database

    async def read() -> tuple[directory_module.Directory | None, dict[str, str]]:
        pool = await database.connect(
            get_settings().database_url, schema="router", max_size=1
        )
        try:
            async with pool.acquire() as conn:
                return await directory_store.read(
                    conn
                ), await directory_store.updated_by(conn)
        except asyncpg.UndefinedTableError:
            return None, {}  # the router has never started against this database
        finally:
            await pool.close()

    area, updated_by = asyncio.run(read())
    if area is None:
        typer.echo(
            "the directory is empty: load it with `signpost directory load services/router/directory`",
            err=True,
        )
        raise typer.Exit(1)
    shown = [
        s
        for s in area.services
        if (network is None or network in s.network_ids)
        and (service_type is None or s.service_type is service_type)
    ]
    for line in service_table(shown, updated_by, datetime.now(UTC)):
        typer.echo(line)
    typer.echo(
        f"{len(shown)} of {len(area.services)} services (directory {area.version}, content {area.content_version})"
    )
