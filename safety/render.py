"""Render the hazard log as Markdown for ``docs/safety/hazard-log.md``.

python -m safety.render          # write it
python -m safety.render --check  # exit 1 if the file is stale (the test suite runs this)
"""

import argparse
import sys
from pathlib import Path

from safety.log import (
    MATRIX,
    RISK_NAMES,
    Hazard,
    HazardLog,
    Likelihood,
    Severity,
    acceptability,
    load,
)

OUT = Path(__file__).resolve().parent.parent / "docs" / "safety" / "hazard-log.md"


def _hazard(h: Hazard) -> list[str]:
    lines = [
        f"### {h.id}: {h.title}",
        "",
        f"**Hazard.** {h.hazard}",
        "",
        "**Causes.**",
        *(f"- {c}" for c in h.causes),
        "",
        f"**Effect on the patient.** {h.effect}",
        "",
        f"**Initial risk.** {h.initial.describe()}",
        "",
        "**Controls.**",
        "",
    ]
    for c in h.controls:
        lines.append(f"- *{c.kind}*: {c.text}")
        lines += [f"  - test: `{t}`" for t in c.tests]
    lines += [
        "",
        f"**Residual risk.** {h.residual.describe()}: {acceptability(h.residual.rating)}.",
        "",
        f"**Status.** {h.status}" + (f". {h.justification}" if h.justification else ""),
        "",
    ]
    return lines


def render(log: HazardLog) -> str:
    severities = [s.name.lower() for s in Severity]
    lines = [
        f"# Hazard log: {log.system} (version {log.version})",
        "",
        "Generated from `safety/hazard-log.yaml` by `make safety`; do not edit by hand.",
        "Every test named here carries `@pytest.mark.hazard` with the hazard's id, and `make test`",
        "fails when one is missing, skipped or failing. See `docs/safety/safety-case.md` for the case.",
        "",
        "## Summary",
        "",
        "| id | hazard | initial | residual | status | control tests |",
        "|---|---|---|---|---|---|",
    ]
    for h in log.hazards:
        lines.append(
            f"| {h.id} | {h.title} | {h.initial.rating} {RISK_NAMES[h.initial.rating]}"
            f" | {h.residual.rating} {RISK_NAMES[h.residual.rating]} | {h.status} | {len(h.tests)} |"
        )
    lines += [
        "",
        "## Risk matrix (DCB0129)",
        "",
        "| likelihood \\ severity | " + " | ".join(severities) + " |",
        "|---|" + "---|" * len(severities),
    ]
    for likelihood in reversed(Likelihood):
        row = MATRIX[likelihood - 1]
        lines.append(
            f"| {likelihood.name.lower().replace('_', ' ')} | "
            + " | ".join(str(r) for r in row)
            + " |"
        )
    lines += [
        "",
        "1-2 acceptable; 3 undesirable, accepted only with justification; 4-5 unacceptable.",
        "",
        "## Hazards",
        "",
    ]
    for h in log.hazards:
        lines += _hazard(h)
    return "\n".join(lines).rstrip() + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="safety.render")
    parser.add_argument(
        "--check",
        action="store_true",
        help="exit 1 if docs/safety/hazard-log.md is stale",
    )
    args = parser.parse_args(argv)
    text = render(load())
    if args.check:
        if not OUT.exists() or OUT.read_text() != text:
            print(f"{OUT} is stale: run `make safety`", file=sys.stderr)
            return 1
        return 0
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(text)
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
