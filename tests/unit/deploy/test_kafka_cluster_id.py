"""The local broker's cluster id: Kafka's StorageTool must read it as a value, never as an option."""

from pathlib import Path

from deploy.kafka import local


def test_a_new_cluster_id_never_starts_with_a_dash(tmp_path: Path) -> None:
    # One id in 64 used to start with "-" (base64url), and `kafka-storage format -t -abc…` then failed to start.
    # 2,000 fresh ids would include one such id with near certainty (1 - (63/64)^2000) if the guard were gone.
    ids = []
    for n in range(2000):
        node = local.KafkaNode(tmp_path / str(n), port=1, controller_port=2)
        node.state_dir.mkdir()
        ids.append(local._cluster_id(node))
    assert not [i for i in ids if i.startswith("-")]
    assert len(set(ids)) == len(ids)
    assert all(len(i) == 22 for i in ids), (
        "a 16-byte UUID in unpadded base64url, as Kafka's own ids are"
    )


def test_an_existing_cluster_id_is_kept_as_it_was(tmp_path: Path) -> None:
    node = local.KafkaNode(tmp_path, port=1, controller_port=2)
    (tmp_path / "cluster.id").write_text("-sMffM0sRM2IB3dzswEbBQ\n")
    assert local._cluster_id(node) == "-sMffM0sRM2IB3dzswEbBQ", (
        "formatted data must keep its id; the CLI form copes"
    )
