"""``make bench-growth``: does CPU per referral grow with the audit log, the agency topics or the directory?

Issue 17, item 4. Each case runs on a stack of its own (its own Kafka,
PostgreSQL and four services on this run's ports), grown in one way only,
and takes the same load as the baseline: an idle window, referrals over HTTP
at one steady rate and count, and submissions stored as intake stores them
(``benchmarks.pipeline``'s phases, measured by its ``Phase``):
- ``audit_log``: ``--audit-rows`` rows already in ``audit_log``: whole
  referrals' flows recorded through audit's own consumer path
  (``benchmarks.audit_growth.record``, over the 17 live chains, the inbox
  claimed), ``--audit-recorded`` of them, and the rest copies of those made
  in SQL with their own ids and chain positions; a log recorded whole is
  verified at the end, a copied one is not (copies form no hash chain);
- ``agency_topics``: ``--agency-factor`` times today's agencies in the
  directory (loaded as the directory case's), every one with its two topics;
- ``directory``: ``--directory-entries`` services in the directory (copies
  of today's areas with their own practices, networks and organisations,
  loaded into the running router as ``signpost directory load`` does;
  topics only for today's agencies, so only the directory grows);
- ``baseline`` and ``baseline_again``: today's stack twice, so the second's
  ratio shows how far two runs of the same thing differ.
A grown area is a renamed copy of today's (``replica``): no referral of the
load comes from its practices, so every case routes the same referrals the
same way and only the size around them differs.

Reports CPU ms per referral of each process (and, idle, ms per second),
baseline against grown, with the ratio, and the load average at each case.
Figures come from process CPU times (``benchmarks.processes``), which hold
on a shared machine; nothing is asserted.
"""

import argparse
import asyncio
import json
import math
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
from rich.progress import Progress
from rich.table import Table

from benchmarks import audit_growth, pipeline, processes, settle
from deploy.kafka import local as kafka_local
from deploy.postgres import local as postgres_local
from services.router.domain import directory as directory_module
from services.router.domain.directory import Directory, merge
from services.router.store import directory as directory_store
from signpost.settings import get_settings
from toolbox.stack import REPO, SERVICES, Stack, create_topics

SEED = REPO / get_settings().directory_path
PARTS = [*SERVICES, "kafka", "postgresql"]
console = pipeline.console


def replica(seed: dict[str, Any], copy: int) -> dict[str, Any]:
    """Directory ``seed`` (as its YAML reads) renamed as area ``copy``: its own ODS codes, networks, services, agencies.

    ODS codes gain a 3-digit prefix (at most 9 characters, the directory's pattern), ids a ``gNNN-`` one, so no
    practice, pharmacy or agency of a copy can be mistaken for one of the seed's and routing of the seed's
    referrals stays exactly as it was.
    """
    if not 1 <= copy <= 999:
        raise ValueError(f"copy {copy}: only 999 copies have a 3-digit prefix")

    def ods(code: str) -> str:
        return f"{copy:03d}{code}"

    def ident(name: str) -> str:
        return f"g{copy:03d}-{name}"

    return {
        "organisations": [
            {**o, "ods_code": ods(o["ods_code"])} for o in seed["organisations"]
        ],
        "networks": [
            {
                **n,
                "network_id": ident(n["network_id"]),
                "practices": [ods(p) for p in n["practices"]],
            }
            for n in seed["networks"]
        ],
        "services": [
            {
                **s,
                "service_id": ident(s["service_id"]),
                "agency_id": ident(s["agency_id"]),
                "ods_code": ods(s["ods_code"]),
                "network_ids": [ident(n) for n in s["network_ids"]],
            }
            for s in seed["services"]
        ],
    }


def grown(seed: dict[str, Any], copies: int) -> dict[str, Any]:
    """One more area made of ``copies`` replicas of the seed (which stays as it is, in its own files)."""
    parts = [replica(seed, k) for k in range(1, copies + 1)]
    return {
        "area": "grown",
        "version": f"{copies}-copies",
        **{
            key: [item for part in parts for item in part[key]]
            for key in ("organisations", "networks", "services")
        },
    }


def copies_for(seed_services: int, entries: int) -> int:
    """Copies of the seed that bring the directory (seed included) to at least ``entries`` services."""
    return max(0, math.ceil((entries - seed_services) / seed_services))


def compare(
    baseline: dict[str, float], grown_ms: dict[str, float]
) -> dict[str, tuple[float, float, float | None]]:
    """Per part: (baseline, grown, grown / baseline); the ratio is None where the baseline spent nothing."""
    return {
        part: (b, g, round(g / b, 2) if b > 0 else None)
        for part in baseline.keys() & grown_ms.keys()
        for b, g in [(baseline[part], grown_ms[part])]
    }


@dataclass(frozen=True)
class Case:
    name: str
    title: str
    agencies: Callable[[list[str]], list[str]]
    """Given the whole directory's agencies, those whose topics the case creates."""
    directory_copies: int = 0
    audit_rows: int = 0


def cases(args: argparse.Namespace, seed: dict[str, Any]) -> dict[str, Case]:
    seed_agencies = sorted({s["agency_id"] for s in seed["services"]})

    def only_seed(_: list[str]) -> list[str]:
        return seed_agencies

    def every(agencies: list[str]) -> list[str]:
        return agencies

    # The agency case's copies: factor x today's agencies in all (each copy brings as many as the seed has).
    return {
        "baseline": Case("baseline", "baseline", only_seed),
        "audit_log": Case(
            "audit_log",
            f"audit log {args.audit_rows:,} rows",
            only_seed,
            audit_rows=args.audit_rows,
        ),
        "agency_topics": Case(
            "agency_topics",
            f"agencies x{args.agency_factor}",
            every,
            directory_copies=args.agency_factor - 1,
        ),
        "directory": Case(
            "directory",
            f"directory {args.directory_entries:,}",
            only_seed,
            directory_copies=copies_for(len(seed["services"]), args.directory_entries),
        ),
        "baseline_again": Case("baseline_again", "baseline again", only_seed),
    }


def seed_directory() -> dict[str, Any]:
    """Today's directory (every seed file merged), as plain data a replica can be made of."""
    return directory_module.load(SEED).model_dump(mode="json")


def agencies_of(seed: dict[str, Any], copies: int) -> list[str]:
    """Every agency of the directory a case routes with: the seed's and its copies'."""
    services = [*seed["services"], *(grown(seed, copies)["services"] if copies else [])]
    return sorted({s["agency_id"] for s in services})


async def load_directory(
    database_url: str, seed: dict[str, Any], copies: int
) -> dict[str, Any]:
    """Today's directory and ``copies`` of it, loaded as ``signpost directory load`` loads one into the running
    router (``directory_store.load``): routing reads it from PostgreSQL at its next batch, as in production.

    Not through seed files: the router parses those with PyYAML's pure-Python loader at start, about a
    second per 7,000 lines here, so a 100k-entry seed would keep it from starting for a quarter of an hour.
    """
    area = merge(
        [Directory.model_validate(seed), Directory.model_validate(grown(seed, copies))]
    )
    began = time.perf_counter()
    # One statement per table (directory_store.load), so the revision triggers fire a fixed number of times per
    # load. A direct connection: the services' pools (and so `signpost directory load`) allow 30 s a statement.
    conn = await asyncpg.connect(
        database_url, server_settings={"search_path": "router"}
    )
    try:
        await directory_store.load(conn, area, source="benchmarks.growth")
    finally:
        await conn.close()
    return {
        "services": len(area.services),
        "networks": len(area.networks),
        "seconds": round(time.perf_counter() - began, 1),
    }


@contextmanager
def own_stack(
    case: Case, seed: dict[str, Any], port_base: int, ready_s: float
) -> Iterator[tuple[Stack, dict[str, int]]]:
    """Kafka, PostgreSQL and the services of this case alone, in a folder of its own, all stopped and removed after."""
    state = Path(tempfile.mkdtemp(prefix=f"signpost-growth-{case.name}-"))
    kafka = kafka_local.KafkaNode(
        state / "kafka", port=port_base, controller_port=port_base + 1
    )
    postgres = postgres_local.PostgresNode(state / "postgres", port=port_base + 2)
    ports = {s: port_base + 10 + i for i, s in enumerate(SERVICES)}
    stack: Stack | None = None
    try:
        agencies = agencies_of(seed, case.directory_copies)
        bootstrap, url = kafka_local.start(kafka), postgres_local.start(postgres)
        began = time.perf_counter()
        # Practices' feedback topics stay today's (this process reads the seed directory): only agencies may grow.
        create_topics(bootstrap, case.agencies(agencies))
        console.print(
            f"{case.title}: {len(agencies):,} agencies in the directory, topics made in {time.perf_counter() - began:.0f} s"
        )
        stack = Stack(
            bootstrap,
            url,
            state,
            ports=ports,
            extra_env={"SIGNPOST_RATE_LIMIT_REFERRER": "1000000/minute"},
        )
        for service in SERVICES:
            stack.start_service(service)
        for service in SERVICES:
            stack.wait_ready(service, timeout=ready_s)
        yield stack, {**ports, "kafka": kafka.port, "postgresql": postgres.port}
    finally:
        if stack is not None:
            stack.stop_all()
        kafka_local.stop(kafka)
        postgres_local.stop(postgres)
        shutil.rmtree(state, ignore_errors=True)


# Each copy of the recorded rows: new ids and seqs, each chain's positions moved past the last copy's, the same
# payloads, times and patients. The copies' hashes are the originals', so they form no chain: a log grown this
# way is not verified (``audit verify`` would stop at the first copy).
_COPIES = """
WITH top AS (SELECT chain, max(chain_seq) AS top FROM audit.audit_log GROUP BY chain)
INSERT INTO audit.audit_log (seq, chain, chain_seq, event_id, event_type, topic, referral_id, patient_key, correlation_id,
                             occurred_at, recorded_at, payload, prev_hash, row_hash, agency_id, network_id, trace_id)
SELECT nextval('audit.audit_log_seq'), a.chain, a.chain_seq + k * top.top, gen_random_uuid(), a.event_type, a.topic,
       md5(a.referral_id::text || k)::uuid, a.patient_key, a.correlation_id, a.occurred_at - k * interval '60 days',
       a.recorded_at - k * interval '60 days', a.payload, a.prev_hash, a.row_hash, a.agency_id, a.network_id, a.trace_id
  FROM generate_series(1, $1) AS k CROSS JOIN audit.audit_log a JOIN top USING (chain)
 ORDER BY k, a.seq
"""
_INBOX_COPIES = """
INSERT INTO audit.processed_events (consumer, topic, event_id, processed_at)
SELECT p.consumer, p.topic, gen_random_uuid(), p.processed_at - k * interval '60 days'
  FROM generate_series(1, $1) AS k CROSS JOIN audit.processed_events p
"""


async def fill_audit_log(
    stack: Stack, rows: int, recorded: int, batch_size: int
) -> dict[str, Any]:
    """``rows`` rows in the log while audit is stopped (it keeps no head it could lose), then VACUUM ANALYZE, so
    neither the load nor autovacuum catching up with it falls into a measured window.

    ``recorded`` of them go through audit's own recording path (about 300 rows/s on this shared machine, too
    slow for a million); the rest are copies of those made in SQL (``_COPIES``), the inbox copied alike.
    """
    stack.stop_service("audit")
    began = time.perf_counter()
    through = await audit_growth.record(
        stack.database_url, min(rows, recorded), batch_size
    )
    conn = await asyncpg.connect(stack.database_url, command_timeout=None)
    try:
        copies = max(0, math.ceil(rows / max(through["rows"], 1)) - 1)
        if copies:
            await conn.execute(_COPIES, copies)
            await conn.execute(_INBOX_COPIES, copies)
        await conn.execute("VACUUM ANALYZE audit.audit_log, audit.processed_events")
        total = await conn.fetchval("SELECT count(*) FROM audit.audit_log")
    finally:
        await conn.close()
    stack.start_service("audit")
    stack.wait_ready("audit", timeout=120)
    return {
        "rows": total,
        "recorded": through["rows"],
        "recorded_rows_per_s": through["rows_per_s"],
        "copies": copies,
        "seconds": round(time.perf_counter() - began, 1),
    }


async def measure(
    stack: Stack, parts: list[processes.Watched], args: argparse.Namespace
) -> dict[str, Any]:
    """The same load on every case, after a warm-up: idle, ``--rate``/s over HTTP for ``--seconds``, ``--stored`` stored."""
    urls = {s: stack.url(s) for s in SERVICES}
    bootstrap, database_url = stack.kafka_bootstrap, stack.database_url
    out: dict[str, Any] = {}
    with Progress(console=console, transient=True) as progress:
        # Unmeasured: the JVM's and the services' first requests, and the router's first read of a grown directory,
        # belong to no case's per-referral cost.
        warm = await pipeline.submit_at_rate(
            urls["intake"], args.rate, args.warmup_seconds, progress, seed=1
        )
        await settle.wait_audited(database_url, list(warm["sent"]))
        await settle.wait_settled(bootstrap, database_url)
    async with pipeline.Phase("idle", parts, bootstrap, database_url) as phase:
        await asyncio.sleep(
            args.idle_seconds
        )  # the measuring window itself, not a wait for readiness
        out["idle"] = await phase.close(0)
    with Progress(console=console, transient=True) as progress:
        async with pipeline.Phase("http", parts, bootstrap, database_url) as phase:
            load = await pipeline.submit_at_rate(
                urls["intake"], args.rate, args.seconds, progress
            )
            through, _ = await settle.wait_audited(database_url, list(load["sent"]))
            out[f"at {args.rate:g}/s"] = {
                "submitted": len(load["sent"]),
                "audited": through,
                "failures": load["failures"],
                **await phase.close(len(load["sent"])),
            }
        async with pipeline.Phase("stored", parts, bootstrap, database_url) as phase:
            stored = await pipeline.pipeline_stored(database_url, args.stored, progress)
            out["stored"] = {
                "submitted": stored["records"],
                "audited": stored["audited"],
                "per_s": stored["per_s"],
                **await phase.close(stored["records"]),
            }
    return out


def run_case(
    case: Case, seed: dict[str, Any], args: argparse.Namespace
) -> dict[str, Any]:
    result: dict[str, Any] = {
        "title": case.title,
        "load_average_before": [round(x, 2) for x in os.getloadavg()],
    }
    began = time.perf_counter()
    with own_stack(case, seed, args.port_base, args.ready_seconds) as (stack, ports):
        result["ready_seconds"] = round(time.perf_counter() - began, 1)
        if case.directory_copies:
            result["directory"] = asyncio.run(
                load_directory(stack.database_url, seed, case.directory_copies)
            )
        if case.audit_rows:
            fill = fill_audit_log(
                stack, case.audit_rows, args.audit_recorded, args.audit_batch
            )
            result["audit_fill"] = asyncio.run(fill)
        # Found after growing: filling the audit log restarts audit, and a process is watched by its pid.
        parts = processes.discover(ports)
        result["phases"] = asyncio.run(measure(stack, parts, args))
        if (
            case.audit_rows
            and result["audit_fill"]["copies"] == 0
            and not args.skip_verify
        ):
            result["verify"] = asyncio.run(
                audit_growth.timed_verify(stack.database_url)
            )
        result["audit_rows"] = asyncio.run(_count_audit_rows(stack.database_url))
    result["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    return result


async def _count_audit_rows(url: str) -> int:
    conn = await asyncpg.connect(url)
    try:
        count: int = await conn.fetchval("SELECT count(*) FROM audit.audit_log")
        return count
    finally:
        await conn.close()


def _figures(phase: dict[str, Any], idle: bool) -> dict[str, float]:
    cpu = phase["cpu"]
    per = dict(cpu["ms_per_s"] if idle else cpu["ms_per_referral"])
    per["system"] = sum(v for k, v in per.items() if k != processes.LOAD_GENERATOR)
    return {p: per.get(p, 0.0) for p in [*PARTS, "system"]}


def report(results: dict[str, Any]) -> None:
    by_case: dict[str, Any] = results["cases"]
    base = by_case.get("baseline")
    if base is None:
        return
    others = [name for name in by_case if name != "baseline"]
    for phase_name in base["phases"]:
        idle = phase_name == "idle"
        unit = "ms per second" if idle else "ms CPU per referral"
        table = Table(
            title=f"{phase_name}: {unit} per process, baseline vs grown (ratio)"
        )
        table.add_column("process")
        table.add_column("baseline", justify="right")
        for name in others:
            table.add_column(by_case[name]["title"], justify="right")
            table.add_column("×", justify="right")
        rows = {
            name: compare(
                _figures(base["phases"][phase_name], idle),
                _figures(by_case[name]["phases"][phase_name], idle),
            )
            for name in others
        }
        for part in [*PARTS, "system"]:
            cells = [f"{_figures(base['phases'][phase_name], idle)[part]:.2f}"]
            for name in others:
                _, g, ratio = rows[name][part]
                cells += [f"{g:.2f}", "-" if ratio is None else f"{ratio:.2f}"]
            table.add_row(part, *cells)
        letters = [
            str(by_case[n]["phases"][phase_name]["dead_letters"])
            for n in ["baseline", *others]
        ]
        table.add_row(
            "dead letters",
            letters[0],
            *(x for letter in letters[1:] for x in (letter, "")),
        )
        console.print(table)
    for case in by_case.values():
        console.print(
            f"{case['title']}: load average {case['load_average_before']} → {case['load_average_after']}, "
            f"ready in {case['ready_seconds']} s, audit rows at the end {case['audit_rows']:,}"
            + (f", filled {case['audit_fill']}" if "audit_fill" in case else "")
            + (f", verify {case['verify']}" if "verify" in case else "")
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="benchmarks.growth", description=__doc__)
    parser.add_argument(
        "--cases",
        nargs="+",
        default=[
            "baseline",
            "audit_log",
            "agency_topics",
            "directory",
            "baseline_again",
        ],
    )
    parser.add_argument(
        "--rate",
        type=float,
        default=20.0,
        help="referrals per second over HTTP, the same in every case",
    )
    parser.add_argument(
        "--seconds", type=float, default=15.0, help="length of the steady-rate run"
    )
    parser.add_argument(
        "--stored",
        type=int,
        default=500,
        help="submissions stored as intake stores them",
    )
    parser.add_argument("--idle-seconds", type=float, default=10.0)
    parser.add_argument(
        "--warmup-seconds",
        type=float,
        default=5.0,
        help="an unmeasured run at --rate first",
    )
    parser.add_argument("--audit-rows", type=int, default=1_000_000)
    parser.add_argument(
        "--audit-recorded",
        type=int,
        default=25_000,
        help="of --audit-rows, how many go through audit's own path (the rest are copies of them)",
    )
    parser.add_argument(
        "--audit-batch",
        type=int,
        default=2_000,
        help="rows per transaction while filling the log",
    )
    parser.add_argument("--agency-factor", type=int, default=10)
    parser.add_argument("--directory-entries", type=int, default=100_000)
    parser.add_argument(
        "--skip-verify", action="store_true", help="do not verify the filled audit log"
    )
    parser.add_argument(
        "--port-base",
        type=int,
        default=int(os.environ.get("SIGNPOST_BENCH_PORT_BASE", "17700")),
        help="Kafka on this port (+1 its controller), PostgreSQL +2, the services +10 to +13",
    )
    parser.add_argument(
        "--ready-seconds",
        type=float,
        default=600.0,
        help="how long a service may take to start",
    )
    parser.add_argument("--out", type=Path, default=REPO / "results")
    args = parser.parse_args(argv)
    seed = seed_directory()
    known = cases(args, seed)
    results: dict[str, Any] = {
        "started_at": datetime.now(UTC).isoformat(),
        "args": vars(args) | {"out": str(args.out)},
        "cases": {},
    }
    args.out.mkdir(exist_ok=True)
    path = args.out / f"growth-{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}.json"
    for name in args.cases:
        console.print(f"case {name} ...")
        results["cases"][name] = run_case(known[name], seed, args)
        path.write_text(
            json.dumps(results, indent=2, default=str)
        )  # each case as it ends: a long run keeps what it had
    report(results)
    console.print(f"results written to {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
