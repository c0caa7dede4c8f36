"""Micro-benchmark of the pure routing decision: ``python -m benchmarks.router_decide``.

Decisions per second for 10 and 1,000 rules, each against 100 and 100,000
directory entries. A report, not a test: figures vary with the machine.
"""

import json
import time
from datetime import UTC, datetime
from itertools import cycle, islice
from pathlib import Path

from schemas.clock import judged_on
from schemas.referral import Referral
from schemas.vocabulary import Need, ServiceType
from services.router.domain.decide import decide
from services.router.domain.directory import Directory
from services.router.domain.rules import RuleSet

NOW = datetime(2026, 1, 13, 12, 0, tzinfo=UTC)
NETWORK_NEEDS = [
    Need.HOME_HEATING,
    Need.LONELINESS,
    Need.FALLS,
    Need.MOBILITY,
    Need.MENTAL_HEALTH,
    Need.COMMUNITY_NURSING,
]
TYPES = [t for t in ServiceType if t is not ServiceType.COMMUNITY_PHARMACY]
RESULTS = Path(__file__).parent / "results"


def directory(entries: int) -> Directory:
    networks = max(1, entries // 50)
    services = [
        {
            "service_id": f"s{i}",
            "name": f"service {i}",
            "service_type": t.value,
            "ods_code": "RJ6",
            "agency_id": f"s{i}",
            "network_ids": [f"n{i % networks}"],
            "hours": "always",
        }
        for i, t in zip(range(entries), cycle(TYPES), strict=False)
    ]
    return Directory.model_validate(
        {
            "area": "bench",
            "version": "1",
            "organisations": [
                {"ods_code": "RJ6", "name": "provider", "kind": "provider"}
            ],
            "networks": [
                {
                    "network_id": f"n{k}",
                    "name": f"network {k}",
                    "practices": [f"P{k:05d}"],
                }
                for k in range(networks)
            ],
            "services": services,
        }
    )


def rules(count: int) -> RuleSet:
    pairs = islice(cycle(zip(NETWORK_NEEDS, TYPES, strict=False)), count)
    return RuleSet.model_validate(
        {
            "rules": [
                {
                    "id": f"r{i}",
                    "description": "bench",
                    "when": {"any_needs": [need.value]},
                    "assign": kind.value,
                    "reason": "bench {needs}",
                }
                for i, (need, kind) in enumerate(pairs)
            ]
            + [
                {
                    "id": "huddle",
                    "description": "bench",
                    "when": {"min_agencies": 2},
                    "assign": "mdt_huddle",
                    "also": True,
                    "reason": "{why}",
                }
            ]
        }
    )


def referral() -> Referral:
    base = json.loads(
        (
            Path(__file__).parents[1]
            / "tests"
            / "support"
            / "data"
            / "pharmacy_first_referral.json"
        ).read_text()
    )
    base.update(needs=["home_heating", "loneliness", "falls"], chosen_pharmacy_ods=None)
    base["referrer"]["role"] = "pharmacist"
    base["patient"]["gp_practice_ods"] = "P00000"
    with judged_on(NOW.date()):
        return Referral.model_validate(base)


def measure(rule_count: int, entries: int, seconds: float = 1.5) -> dict[str, float]:
    area, rule_set, ref = directory(entries), rules(rule_count), referral()
    decide(
        ref, area, rule_set, NOW
    )  # build the indexes once, as the router does at load
    done, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        for _ in range(100):
            decide(ref, area, rule_set, NOW)
        done += 100
    return {
        "rules": rule_count,
        "directory_entries": entries,
        "decisions_per_s": round(done / elapsed),
    }


def main() -> None:
    rows = [measure(r, e) for r in (10, 1000) for e in (100, 100_000)]
    print(f"{'rules':>6} {'entries':>8} {'decisions/s':>12}")
    for row in rows:
        print(
            f"{row['rules']:>6} {row['directory_entries']:>8} {row['decisions_per_s']:>12}"
        )
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "router_decide.json").write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
