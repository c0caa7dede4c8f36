"""A pytest plugin that holds the hazard log (``safety/hazard-log.yaml``) true.

Each control test carries ``@pytest.mark.hazard("HAZ-…")`` and is named under its
hazard in the log. On a whole-suite run (``make test``: no paths, no -k or -m),
the run fails when a hazard has no control test, when a test the log names no
longer exists or lacks the hazard's marker, when a marked test is missing from
the log, or when a control test is skipped or fails. It then prints the table of
hazards and their tests' results. ``--hazard-check`` forces the check on a
partial run; a marker naming an unknown hazard is an error on any run.

Under pytest-xdist the workers collect, not the controller: each worker sends
the markers it collected back when it finishes (``workeroutput``), and the
controller, which sees every test's report, checks and prints as before.
"""

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import pytest

from safety.log import RISK_NAMES, HazardLog, load


@dataclass
class Ledger:
    log: HazardLog
    marked: dict[str, set[str]] = field(default_factory=dict)
    """Collected test (node id without parameters) -> hazards its markers name."""
    outcomes: defaultdict[str, set[str]] = field(
        default_factory=lambda: defaultdict(set)
    )
    """Test -> outcomes seen across its parameters and phases (passed, failed, skipped)."""
    whole_run: bool = False
    unknown: set[str] = field(default_factory=set)
    """Markers naming hazards the log does not hold, as the xdist workers found them (without xdist: a usage error)."""

    def problems(self) -> list[str]:
        found: list[str] = []
        links = self.log.links()
        for hazard in self.log.hazards:
            if not hazard.tests:
                found.append(f"{hazard.id} has no control test")
            for test in hazard.tests:
                if test not in self.marked:
                    found.append(f"{hazard.id}: {test} no longer exists")
                elif hazard.id not in self.marked[test]:
                    found.append(
                        f"{hazard.id}: {test} lacks @pytest.mark.hazard({hazard.id!r})"
                    )
                elif "skipped" in self.outcomes[test]:
                    found.append(f"{hazard.id}: {test} was skipped")
                elif (
                    "failed" in self.outcomes[test]
                    or "passed" not in self.outcomes[test]
                ):
                    found.append(f"{hazard.id}: {test} did not pass")
        for test, hazards in sorted(self.marked.items()):
            for hazard_id in sorted(hazards - links.get(test, set())):
                if hazard_id in self.log.by_id:
                    found.append(
                        f"{hazard_id}: {test} is marked but not named in the hazard log"
                    )
        return found

    def table(self) -> list[str]:
        lines = [f"{'hazard':<9}{'residual':<11}{'status':<8}{'tests':>7}  title"]
        for h in self.log.hazards:
            passed = sum(1 for t in h.tests if self.outcomes.get(t) == {"passed"})
            rating = h.residual.rating
            lines.append(
                f"{h.id:<9}{f'{rating} {RISK_NAMES[rating]}':<11}{h.status:<8}{f'{passed}/{len(h.tests)}':>7}  {h.title}"
            )
        return lines


LEDGER = pytest.StashKey[Ledger]()
UNKNOWN_HAZARDS = "hazard markers name hazards the log does not hold: "
MARKED, UNKNOWN = "hazard_marked", "hazard_unknown"
"""The keys of a worker's collected markers and of the unknown hazards they name, in its ``workeroutput``."""
_running: list[Ledger] = []
"""The session's ledger, for the report hook, which is given no config."""


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--hazard-check",
        action="store_true",
        help="check the hazard log's control tests on a partial run too",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "hazard(*ids): this test proves a control of these hazards in safety/hazard-log.yaml",
    )
    # getoption with a default: under --help pytest configures plugins before it
    # has parsed the positional arguments, so the attributes are not there yet.
    whole = not any(
        config.getoption(name, default=None)
        for name in ("file_or_dir", "keyword", "markexpr")
    )
    checked = bool(config.getoption("hazard_check", default=False))
    config.stash[LEDGER] = ledger = Ledger(load(), whole_run=whole or checked)
    _running.append(ledger)


def pytest_unconfigure(config: pytest.Config) -> None:
    # A session run inside another (the plugin's own tests) must hand the outer one back its ledger.
    if _running and _running[-1] is config.stash.get(LEDGER, None):
        _running.pop()


def _base(nodeid: str) -> str:
    return nodeid.split("[", 1)[0]


def _worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


def pytest_collection_modifyitems(
    config: pytest.Config, items: list[pytest.Item]
) -> None:
    ledger = config.stash[LEDGER]
    unknown: list[str] = []
    for item in items:
        hazards = {str(h) for mark in item.iter_markers("hazard") for h in mark.args}
        unknown += [
            f"{item.nodeid} names {h}"
            for h in sorted(hazards - ledger.log.by_id.keys())
        ]
        if hazards:
            ledger.marked.setdefault(_base(item.nodeid), set()).update(hazards)
        else:
            ledger.marked.setdefault(_base(item.nodeid), set())
    if unknown and _worker(config):
        # A worker's usage error would only crash it, unexplained: the controller reports it and fails the run.
        config.workeroutput[UNKNOWN] = unknown  # type: ignore[attr-defined]
    elif unknown:
        raise pytest.UsageError(UNKNOWN_HAZARDS + "; ".join(unknown))


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    # A failed setup or teardown counts as much as a failed call; a passed setup says nothing yet.
    if _running and (report.when == "call" or report.outcome != "passed"):
        _running[-1].outcomes[_base(report.nodeid)].add(report.outcome)


def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, exitstatus: int, config: pytest.Config
) -> None:
    ledger = config.stash[LEDGER]
    if ledger.unknown:
        terminalreporter.write_line(
            UNKNOWN_HAZARDS + "; ".join(sorted(ledger.unknown)), red=True
        )
    if not ledger.whole_run or _worker(config):
        return
    terminalreporter.section("clinical safety: hazard log")
    for line in ledger.table():
        terminalreporter.write_line(line)
    problems = ledger.problems()
    for problem in problems:
        terminalreporter.write_line(f"HAZARD CONTROL: {problem}", red=True)
    if not problems:
        terminalreporter.write_line(
            f"every hazard's control tests ran and passed ({len(ledger.log.hazards)} hazards)"
        )


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    ledger = session.config.stash[LEDGER]
    if _worker(session.config):
        # A worker ran only its share of the tests: the controller judges the whole run.
        marked = {test: sorted(h) for test, h in ledger.marked.items()}
        session.config.workeroutput[MARKED] = marked  # type: ignore[attr-defined]
        return
    if ledger.unknown:
        session.exitstatus = pytest.ExitCode.USAGE_ERROR
    elif ledger.whole_run and ledger.problems() and exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: object) -> None:
    # Every worker collects every test, so any one worker's map would do; a worker that died before it finished
    # sends none, and the tests it alone would name are missing (the run has failed then anyway).
    output = getattr(node, "workeroutput", {})
    ledger = node.config.stash[LEDGER]
    ledger.unknown.update(output.get(UNKNOWN, ()))
    for test, hazards in output.get(MARKED, {}).items():
        ledger.marked.setdefault(test, set()).update(hazards)
