"""The client registry is read again when its file changes, so a revoked client is refused without a restart."""

import os
from pathlib import Path

import yaml

from signpost.clients import _registry, load_clients, revocation
from toolbox.tokens import DEV_DIR


def registry_copy(tmp_path: Path) -> Path:
    path = tmp_path / "clients.yaml"
    path.write_text((DEV_DIR / "clients.yaml").read_text())
    return path


def rewrite(path: Path, edit: object) -> None:
    clients = yaml.safe_load(path.read_text())["clients"]
    path.write_text(yaml.safe_dump({"clients": edit(clients)}))  # type: ignore[operator]
    st = path.stat()
    os.utime(
        path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000)
    )  # a later mtime even on a coarse clock


def test_a_client_removed_from_the_file_is_gone_at_the_next_read(
    tmp_path: Path,
) -> None:
    path = registry_copy(tmp_path)
    assert "agency-demo-pharmacy" in _registry(str(path))
    rewrite(
        path, lambda cs: [c for c in cs if c["client_id"] != "agency-demo-pharmacy"]
    )
    assert "agency-demo-pharmacy" not in _registry(str(path))
    assert "operations" in _registry(str(path))


def test_an_unreadable_file_keeps_the_last_good_registry(tmp_path: Path) -> None:
    path = registry_copy(tmp_path)
    before = _registry(str(path))
    path.write_text("clients: [ {client_id: half-writ")
    assert _registry(str(path)) == before


def test_revocation_names_a_removed_or_rekeyed_client_and_passes_an_unchanged_one() -> (
    None
):
    clients = load_clients(DEV_DIR / "clients.yaml")
    ops = clients["operations"]
    assert revocation(ops, clients) is None
    assert (
        revocation(ops, {k: v for k, v in clients.items() if k != "operations"})
        == "the client is no longer registered"
    )
    rekeyed = {
        **clients,
        "operations": ops.model_copy(
            update={"public_key": clients["gp-h81001"].public_key}
        ),
    }
    assert revocation(ops, rekeyed) == "the client's registration changed"
