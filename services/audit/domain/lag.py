"""Consumer lag, from Kafka's own offsets: how many records each consumer group has yet to handle, per subject."""

from collections import defaultdict
from collections.abc import Mapping
from typing import Any

Partition = tuple[str, int]


def subject_of(topic: str) -> tuple[str, str]:
    """(kind, name) a topic's lag is reported under: an agency's topics count together."""
    parts = topic.split(".")
    if len(parts) >= 3 and parts[0] == "agency":
        return "agency", parts[1]
    return "topic", topic


def lag_report(
    committed: Mapping[str, Mapping[Partition, int]], ends: Mapping[Partition, int]
) -> list[dict[str, Any]]:
    """Lag per consumer group and subject: end offset minus committed offset, summed over partitions.

    A partition with no committed offset (-1) counts from zero; one whose end
    offset is unknown is left out rather than guessed.
    """
    report = []
    for group in sorted(committed):
        subjects: dict[tuple[str, str], dict[str, Any]] = defaultdict(
            lambda: {"lag": 0, "partitions": 0, "topics": set()}
        )
        for (topic, partition), offset in committed[group].items():
            end = ends.get((topic, partition))
            if end is None:
                continue
            entry = subjects[subject_of(topic)]
            entry["lag"] += max(end - max(offset, 0), 0)
            entry["partitions"] += 1
            entry["topics"].add(topic)
        rows = [
            {
                "kind": kind,
                "name": name,
                "lag": e["lag"],
                "partitions": e["partitions"],
                "topics": sorted(e["topics"]),
            }
            for (kind, name), e in sorted(subjects.items())
        ]
        report.append(
            {"group_id": group, "lag": sum(r["lag"] for r in rows), "subjects": rows}
        )
    return report
