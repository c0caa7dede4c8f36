"""Each xdist worker's ports stand apart from every other worker's, from whatever bases the environment gives."""

import pytest

from tests.support.worker_ports import BASES, CHAOS, offset

SIDE_BY_SIDE = {
    "SIGNPOST_TEST_KAFKA_PORT": "25092",
    "SIGNPOST_TEST_POSTGRES_PORT": "25032",
    "SIGNPOST_TEST_PORT_BASE": "25200",
    "SIGNPOST_TEST_SECURE_KAFKA_PORT": "25392",
    CHAOS: "25500",
}


def ports(environ: dict[str, str]) -> set[int]:
    """Every port a worker opens, as the modules derive them from the bases (services ten apart per instance)."""
    get = {name: int(environ.get(name, default)) for name, default in BASES.items()}
    kafka, base = get["SIGNPOST_TEST_KAFKA_PORT"], get["SIGNPOST_TEST_PORT_BASE"]
    chaos = int(environ.get(CHAOS, base + 500))
    found = {
        kafka,
        kafka + 1,
        kafka + 10,
        kafka + 11,
        get["SIGNPOST_TEST_POSTGRES_PORT"],
    }
    found |= {
        get["SIGNPOST_TEST_SECURE_KAFKA_PORT"],
        get["SIGNPOST_TEST_SECURE_KAFKA_PORT"] + 1,
    }
    found |= {
        base + offset + i for offset in (0, 10, 100, 110) for i in range(1, 5)
    } | {base + 90, base + 98, base + 99}
    for run in (chaos, chaos + 100):
        found |= {run + i + 10 * n for i in range(1, 5) for n in range(3)} | {
            run + 32,
            run + 92,
            run + 93,
        }
    return found


def worker(n: int, environ: dict[str, str]) -> dict[str, str]:
    moved = {**environ, "PYTEST_XDIST_WORKER": f"gw{n}"}
    offset(moved)
    return moved


@pytest.mark.parametrize(
    "environ", [{}, SIDE_BY_SIDE], ids=["defaults", "side-by-side"]
)
def test_four_workers_share_no_port_and_stay_below_the_ephemeral_range(
    environ: dict[str, str],
) -> None:
    each = [ports(worker(n, environ)) for n in range(4)]
    assert sum(len(p) for p in each) == len(set().union(*each))
    assert max(max(p) for p in each) < 32768


def test_the_first_worker_and_a_run_without_xdist_keep_the_bases() -> None:
    assert worker(0, SIDE_BY_SIDE) == {**SIDE_BY_SIDE, "PYTEST_XDIST_WORKER": "gw0"}
    unmoved = dict(SIDE_BY_SIDE)
    offset(unmoved)
    assert unmoved == SIDE_BY_SIDE


def test_a_worker_moves_every_base_by_its_strides() -> None:
    moved = worker(2, {**SIDE_BY_SIDE, "SIGNPOST_TEST_WORKER_PORT_STRIDE": "3000"})
    assert {
        name: int(moved[name]) - int(port) for name, port in SIDE_BY_SIDE.items()
    } == dict.fromkeys(SIDE_BY_SIDE, 6000)


def test_a_layout_reaching_the_ephemeral_range_is_refused() -> None:
    with pytest.raises(RuntimeError, match="ephemeral"):
        worker(3, {**SIDE_BY_SIDE, "SIGNPOST_TEST_WORKER_PORT_STRIDE": "3000"})
