"""The pure parts of provisioning: connection URLs, kept passwords, SCRAM verifiers."""

import base64
import stat
from pathlib import Path

from signpost.database_roles import LOGINS, login_url, passwords, scram_verifier, urls


def test_login_url_swaps_only_the_credentials() -> None:
    admin = "postgresql://postgres:s3cret@db.example:5433/signpost?sslmode=verify-full"
    assert (
        login_url(admin, "signpost_router", "pw")
        == "postgresql://signpost_router:pw@db.example:5433/signpost?sslmode=verify-full"
    )
    assert (
        login_url("postgresql://postgres@127.0.0.1:5432/x", "r", "a/b@c")
        == "postgresql://r:a%2Fb%40c@127.0.0.1:5432/x"
    )


def test_passwords_are_generated_once_kept_private_and_distinct(tmp_path: Path) -> None:
    file = tmp_path / "state" / "database-roles.json"
    first = passwords(file)
    assert set(first) == set(LOGINS.values())
    assert len(set(first.values())) == len(first), "every role its own password"
    assert all(len(p) >= 40 for p in first.values())
    assert stat.S_IMODE(file.stat().st_mode) == 0o600
    assert passwords(file) == first, "a second run keeps what the server was given"


def test_urls_read_the_kept_passwords_and_make_none_up(tmp_path: Path) -> None:
    file = tmp_path / "roles.json"
    file.write_text('{"signpost_router": "pw"}')
    assert urls("postgresql://postgres@h:1/d", file) == {
        "router": "postgresql://signpost_router:pw@h:1/d"
    }
    assert file.read_text() == '{"signpost_router": "pw"}'


def test_scram_verifier_has_the_form_postgresql_stores_and_a_fresh_salt() -> None:
    verifier = scram_verifier("pencil")
    method, rest = verifier.split("$", 1)
    iterations_salt, keys = rest.split("$")
    iterations, salt = iterations_salt.split(":")
    stored_key, server_key = keys.split(":")
    assert (method, iterations) == ("SCRAM-SHA-256", "4096")
    assert len(base64.b64decode(salt)) == 16
    assert len(base64.b64decode(stored_key)) == len(base64.b64decode(server_key)) == 32
    assert "pencil" not in verifier
    assert scram_verifier("pencil") != verifier, "each verifier its own salt"


def test_a_password_the_server_holds_is_recognised_by_its_verifier() -> None:
    from signpost.database_roles import _same_password

    held = scram_verifier("pencil")
    assert _same_password(held, "pencil")
    assert not _same_password(held, "pencil2")
    assert not _same_password(None, "pencil")
    assert not _same_password("md5" + "0" * 32, "pencil")
