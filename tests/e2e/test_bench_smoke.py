"""A short run of ``make bench`` against the test stack: it measures, and every referral arrives."""

import argparse
import asyncio
from pathlib import Path

from benchmarks.pipeline import run
from toolbox.stack import SERVICES, Stack


def test_bench_smoke_run_reports_figures_and_loses_nothing(signpost_stack: Stack, tmp_path: Path) -> None:
    args = argparse.Namespace(
        rate=20.0, seconds=2.0, pipeline_records=100, intake_records=40, concurrency=8,
        skip_java_baselines=True, out=tmp_path,
    )  # fmt: skip
    urls = {s: signpost_stack.url(s) for s in SERVICES}
    results = asyncio.run(run(args, urls, signpost_stack.kafka_bootstrap, signpost_stack.database_url))

    assert results["pipeline"]["audited"] == 100
    assert results["pipeline"]["per_s"] > 0
    assert results["intake"]["accepted"] == 40
    assert results["at_rate"]["failures"] == {}
    assert sum(results["at_rate"]["kinds"].values()) == 40
    latency = results["latency"]
    assert latency["submit_to_routed_ms"]["n"] == 40
    assert latency["submit_to_agency_topic_ms"]["n"] == 40, "every referral of the mix reaches all its agencies' topics"
    assert latency["submit_to_audited_ms"]["n"] == 40
    worked = results["outcomes"]
    assert worked["assignments"] > 0
    assert set(worked["status"]) == {201}, "every report the pharmacy makes is legal and recorded"
    assert worked["rerouted"] == worked["declined"], "every decline is rerouted"
    assert 0 < latency["submit_to_routed_ms"]["p50"] <= latency["submit_to_audited_ms"]["p99"]
    assert results["baselines"]["relay"]["records"] == 100
    assert results["ratios"]["pipeline_to_relay"] > 0
    growth = results["audit_growth"]
    assert growth["rows"] > 0
    assert 100 < growth["bytes_per_row"] < 100_000
    assert growth["rows_per_referral"] >= 4, "submitted, routed, the agency copy and delivered at least"
