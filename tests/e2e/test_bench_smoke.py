"""A short run of ``make bench`` against the test stack: it measures every process, and every referral arrives."""

import argparse
import asyncio
from pathlib import Path

import pytest

from benchmarks.pipeline import run
from toolbox.stack import SERVICES, Stack


def test_bench_smoke_run_reports_figures_and_loses_nothing(
    signpost_stack: Stack, tmp_path: Path
) -> None:
    args = argparse.Namespace(
        rates=[12.0],
        seconds=2.0,
        idle_seconds=1.0,
        pipeline_records=60,
        intake_records=30,
        concurrency=8,
        skip_java_baselines=True,
        out=tmp_path,
    )
    urls = {s: signpost_stack.url(s) for s in SERVICES}
    results = asyncio.run(
        run(args, urls, signpost_stack.kafka_bootstrap, signpost_stack.database_url)
    )

    assert results["processes"] == sorted(
        [*SERVICES, "kafka", "postgresql", "load generator"]
    )
    phases = results["phases"]
    assert list(phases) == ["at 12/s", "at maximum", "outcomes", "pipeline"]
    for name, phase in phases.items():
        assert phase["dead_letters"] == 0, f"{name} left dead letters"
        assert phase["settled"], f"{name} ended with work in flight: {phase}"
        cpu = phase["cpu"]["ms_per_referral"]
        assert all(cpu[p] > 0 for p in (*SERVICES, "kafka", "postgresql")), (
            f"{name}: every process did work: {cpu}"
        )
        system = sum(v for k, v in cpu.items() if k != "load generator")
        assert phase["cpu"]["system_ms_per_referral"] == pytest.approx(
            system, abs=0.01
        ), "the load generator apart"
    assert results["idle"]["cpu"]["system_cores"] > 0
    steady = phases["at 12/s"]
    assert steady["failures"] == {}
    assert steady["audited"] == sum(steady["kinds"].values()) == 24
    for leg in (
        "submit_to_routed_ms",
        "submit_to_agency_topic_ms",
        "submit_to_audited_ms",
    ):
        assert steady["latency"][leg]["n"] == 24, (
            f"every referral of the mix is timed on {leg}"
        )
    assert (
        0
        < steady["latency"]["submit_to_routed_ms"]["p50"]
        <= steady["latency"]["submit_to_audited_ms"]["p99"]
    )
    assert phases["at maximum"]["accepted"] == phases["at maximum"]["audited"] == 30
    worked = phases["outcomes"]
    assert worked["assignments"] > 0
    assert set(worked["status"]) == {201}, (
        "every report the pharmacy makes is legal and recorded"
    )
    assert worked["rerouted"] == worked["declined"], "every decline is rerouted"
    assert phases["pipeline"]["audited"] == 60
    assert results["baselines"]["relay"]["records"] == 60
    assert results["ratios"]["pipeline_to_relay"] > 0
    assert set(results["rss_mb"]) == set(SERVICES)
    growth = results["audit_growth"]
    assert growth["rows_per_referral"] >= 4, (
        "submitted, routed, the agency copy and delivered at least"
    )
