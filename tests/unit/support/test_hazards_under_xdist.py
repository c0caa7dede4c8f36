"""Under pytest-xdist the hazard plugin judges the whole run as it does without: the workers' markers reach the controller."""

import os
import textwrap
from pathlib import Path

import pytest

from tests.unit.safety.test_hazard_plugin import LOG, MARKED

pytest_plugins = ["pytester"]

REPO = Path(__file__).resolve().parents[3]
# Each worker is a process of its own, so the hazard log is swapped in by a conftest every one of them loads.
CONFTEST = """
from pathlib import Path

import safety.log
import tests.support.hazards

tests.support.hazards.load = lambda: safety.log.load(Path(__file__).parent / "hazard-log.yaml")
"""


@pytest.fixture
def suite(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> pytest.Pytester:
    (pytester.path / "hazard-log.yaml").write_text(textwrap.dedent(LOG))
    pytester.makeconftest(CONFTEST)
    monkeypatch.setenv(
        "PYTHONPATH", os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])
    )
    # Only the plugins under test: three interpreters per run importing every installed plugin are slow on a busy machine.
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    return pytester


def run(suite: pytest.Pytester, tests: str, *args: str) -> pytest.RunResult:
    suite.makepyfile(test_controls=textwrap.dedent(tests))
    return suite.runpytest_subprocess(
        "-p",
        "xdist",
        "-p",
        "tests.support.hazards",
        "-p",
        "no:cacheprovider",
        *args,
        timeout=240,
    )


def test_two_workers_pass_a_whole_run_and_print_the_table_as_one_process_does(
    suite: pytest.Pytester,
) -> None:
    def table(result: pytest.RunResult) -> list[str]:
        lines = [line for line in result.stdout.lines if line.strip()]
        start = next(
            i for i, line in enumerate(lines) if "clinical safety: hazard log" in line
        )
        return lines[start + 1 : start + 4]

    result = run(suite, MARKED, "-n", "2")
    result.assert_outcomes(passed=3)
    assert result.ret == 0, result.stdout.str()
    result.stdout.fnmatch_lines(
        [
            "*clinical safety: hazard log*",
            "HAZ-001 *closed*2/2*A referral lost",
            "*every hazard*",
        ]
    )
    assert table(result) == table(run(suite, MARKED))


def test_a_deleted_marker_fails_a_run_on_two_workers(suite: pytest.Pytester) -> None:
    result = run(
        suite,
        MARKED.replace(
            '@pytest.mark.hazard("HAZ-001")\ndef test_outbox', "def test_outbox"
        ),
        "-n",
        "2",
    )
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(
        [
            "*HAZARD CONTROL: HAZ-001: test_controls.py::test_outbox lacks @pytest.mark.hazard('HAZ-001')"
        ]
    )


def test_a_control_failing_on_a_worker_fails_the_run_and_is_named(
    suite: pytest.Pytester,
) -> None:
    result = run(
        suite,
        MARKED.replace(
            "def test_outbox():\n    pass", "def test_outbox():\n    assert False"
        ),
        "-n",
        "2",
    )
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(
        ["*HAZ-001: test_controls.py::test_outbox did not pass"]
    )


def test_a_marker_naming_an_unknown_hazard_fails_a_run_on_two_workers(
    suite: pytest.Pytester,
) -> None:
    result = run(
        suite,
        MARKED + '\n@pytest.mark.hazard("HAZ-404")\ndef test_extra():\n    pass\n',
        "-n",
        "2",
    )
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stdout.fnmatch_lines(
        ["*hazards the log does not hold: test_controls.py::test_extra names HAZ-404"]
    )
