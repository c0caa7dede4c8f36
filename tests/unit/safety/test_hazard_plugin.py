"""The hazard plugin fails a whole-suite run when a control test is missing, unmarked, skipped or failing."""

import textwrap
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

LOG = """
system: test
version: "1"
hazards:
  - id: HAZ-001
    title: A referral lost
    hazard: h
    causes: [c]
    effect: e
    initial: {severity: major, likelihood: medium}
    controls:
      - kind: design
        text: outbox
        tests: [test_controls.py::test_outbox, test_controls.py::test_inbox]
    residual: {severity: major, likelihood: very low}
    status: closed
"""

MARKED = """
import pytest

@pytest.mark.hazard("HAZ-001")
def test_outbox():
    pass

@pytest.mark.hazard("HAZ-001")
@pytest.mark.parametrize("n", [1, 2])
def test_inbox(n):
    pass
"""


@pytest.fixture
def suite(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> pytest.Pytester:
    log = pytester.path / "hazard-log.yaml"
    log.write_text(textwrap.dedent(LOG))
    monkeypatch.setattr("safety.log.LOG_FILE", log)
    monkeypatch.setattr(
        "tests.support.hazards.load", lambda: __import__("safety.log").log.load(log)
    )
    return pytester


def run(suite: pytest.Pytester, tests: str, *args: str) -> pytest.RunResult:
    suite.makepyfile(test_controls=textwrap.dedent(tests))
    return suite.runpytest_inprocess(
        "-p",
        "tests.support.hazards",
        "-o",
        "asyncio_default_fixture_loop_scope=function",
        *args,
    )


def test_a_whole_run_with_every_control_passing_prints_the_table_and_passes(
    suite: pytest.Pytester,
) -> None:
    result = run(suite, MARKED)
    result.assert_outcomes(passed=3)
    assert result.ret == 0
    result.stdout.fnmatch_lines(
        [
            "*clinical safety: hazard log*",
            "HAZ-001 *closed*2/2*A referral lost",
            "*every hazard*",
        ]
    )


def test_deleting_a_marker_fails_the_run(suite: pytest.Pytester) -> None:
    result = run(
        suite,
        MARKED.replace(
            '@pytest.mark.hazard("HAZ-001")\ndef test_outbox', "def test_outbox"
        ),
    )
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(
        [
            "*HAZARD CONTROL: HAZ-001: test_controls.py::test_outbox lacks @pytest.mark.hazard('HAZ-001')"
        ]
    )


def test_deleting_a_linked_test_fails_the_run(suite: pytest.Pytester) -> None:
    result = run(
        suite,
        MARKED.split('@pytest.mark.hazard("HAZ-001")\n@pytest.mark.parametrize')[0],
    )
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(
        ["*HAZ-001: test_controls.py::test_inbox no longer exists"]
    )


def test_skipping_one_parameter_of_a_control_test_fails_the_run(
    suite: pytest.Pytester,
) -> None:
    skip_one = "def test_inbox(n):\n    if n == 2:\n        pytest.skip('no broker')"
    skipping = MARKED.replace("def test_inbox(n):\n    pass", skip_one)
    result = run(suite, skipping)
    result.assert_outcomes(passed=2, skipped=1)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["*HAZ-001: test_controls.py::test_inbox was skipped"])


def test_a_failing_control_test_is_named(suite: pytest.Pytester) -> None:
    result = run(
        suite,
        MARKED.replace(
            "def test_outbox():\n    pass", "def test_outbox():\n    assert False"
        ),
    )
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(
        ["*HAZ-001: test_controls.py::test_outbox did not pass"]
    )


def test_a_marker_for_a_hazard_the_log_does_not_name_on_that_test_fails(
    suite: pytest.Pytester,
) -> None:
    result = run(
        suite,
        MARKED + '\n@pytest.mark.hazard("HAZ-001")\ndef test_extra():\n    pass\n',
    )
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(
        [
            "*HAZ-001: test_controls.py::test_extra is marked but not named in the hazard log"
        ]
    )


def test_a_marker_naming_an_unknown_hazard_is_a_usage_error_even_on_a_partial_run(
    suite: pytest.Pytester,
) -> None:
    result = run(
        suite,
        MARKED + '\n@pytest.mark.hazard("HAZ-404")\ndef test_extra():\n    pass\n',
        "-k",
        "extra",
    )
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*names HAZ-404*"])


def test_a_partial_run_skips_the_check_unless_asked(suite: pytest.Pytester) -> None:
    partial = run(suite, MARKED, "-k", "outbox")
    assert partial.ret == 0
    assert "clinical safety" not in partial.stdout.str()
    forced = run(suite, MARKED, "-k", "outbox", "--hazard-check")
    assert forced.ret == pytest.ExitCode.TESTS_FAILED


def test_the_log_file_path_is_the_packaged_one() -> None:
    from safety.log import LOG_FILE

    assert (
        Path(__file__).resolve().parents[3] / "safety" / "hazard-log.yaml" == LOG_FILE
    )
    assert LOG_FILE.exists()


def test_help_lists_the_option_instead_of_crashing(suite: pytest.Pytester) -> None:
    # pytest --help configures plugins before it parses the positional arguments.
    result = run(suite, MARKED, "--help")
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(["*--hazard-check*"])
