"""Production refuses development identities: the pure check, one refusal per test."""

from pathlib import Path

import pytest
from pydantic import SecretStr

from signpost.settings import DEV_CLIENTS_FILE, DEV_DIR, DEV_PSEUDONYM_KEY, Settings
from signpost.startup_checks import (
    DIGESTS_FILE,
    DevelopmentIdentities,
    development_identities,
    problems,
    scan,
    sha256,
)

DEV = development_identities()
OWN_KEY = "k" * 40


def production(tmp_path: Path, **overrides: object) -> Settings:
    """Settings a deployer would give: own registry, own key, Kafka SASL_SSL, HTTPS."""
    registry = tmp_path / "clients.yaml"
    if not registry.exists():
        registry.write_text("clients: []\n")
    for name in ("ca.pem", "cert.pem", "key.pem"):
        (tmp_path / name).write_text(f"not a development file: {name}\n")
    values: dict[str, object] = {
        "development_mode": False,
        "clients_file": str(registry),
        "pseudonym_key": SecretStr(OWN_KEY),
        "kafka_sasl_username": "svc-intake",
        "kafka_sasl_password": SecretStr("secret-password"),
        "kafka_ssl_cafile": str(tmp_path / "ca.pem"),
        "tls_certfile": str(tmp_path / "cert.pem"),
        "tls_keyfile": str(tmp_path / "key.pem"),
    }
    values.update(overrides)
    return Settings.model_validate(values)


def test_a_deployers_own_settings_pass(tmp_path: Path) -> None:
    assert problems(production(tmp_path), DEV) == []


def test_development_mode_accepts_the_committed_identities_and_fills_them_in() -> None:
    settings = Settings(development_mode=True)
    assert (settings.clients_file, settings.pseudonym_key.get_secret_value()) == (
        DEV_CLIENTS_FILE,
        DEV_PSEUDONYM_KEY,
    )
    assert problems(settings, DEV) == []


def test_without_development_mode_nothing_is_filled_in() -> None:
    settings = Settings(development_mode=False)
    assert (settings.clients_file, settings.pseudonym_key.get_secret_value()) == (
        "",
        "",
    )


def test_the_committed_registry_is_refused_by_path(tmp_path: Path) -> None:
    [found] = problems(production(tmp_path, clients_file=DEV_CLIENTS_FILE), DEV)
    assert found.startswith(
        "SIGNPOST_CLIENTS_FILE=deploy/dev/clients.yaml is a committed development file"
    )


def test_a_committed_private_key_given_as_the_tls_key_is_refused(
    tmp_path: Path,
) -> None:
    key = DEV_DIR / "keys" / "operations.pem"
    [found] = problems(production(tmp_path, tls_keyfile=str(key)), DEV)
    assert found.startswith(
        f"SIGNPOST_TLS_KEYFILE={key} is a committed development file"
    )


def test_a_copy_elsewhere_is_refused_by_its_digest(tmp_path: Path) -> None:
    copy = tmp_path / "elsewhere" / "clients.yaml"
    copy.parent.mkdir()
    copy.write_bytes((DEV_DIR / "clients.yaml").read_bytes())
    [found] = problems(production(tmp_path, clients_file=str(copy)), DEV)
    assert found.startswith(
        f"SIGNPOST_CLIENTS_FILE={copy} is a copy of a committed development file"
    )


def test_a_registry_of_ones_own_listing_a_committed_public_key_is_refused(
    tmp_path: Path,
) -> None:
    edited = (
        (DEV_DIR / "clients.yaml").read_text().replace("DEVELOPMENT ONLY", "ours now")
    )
    (tmp_path / "clients.yaml").write_text(edited)
    [found] = problems(production(tmp_path), DEV)
    assert "public key(s) of the committed development clients" in found


def test_the_committed_pseudonym_key_is_refused(tmp_path: Path) -> None:
    [found] = problems(
        production(tmp_path, pseudonym_key=SecretStr(DEV_PSEUDONYM_KEY)), DEV
    )
    assert found.startswith("SIGNPOST_PSEUDONYM_KEY is the committed development key")


@pytest.mark.parametrize(
    ("key", "says"),
    [("", "is not set"), ("short-key", "is shorter than 32 characters")],
)
def test_a_missing_or_short_pseudonym_key_is_refused(
    tmp_path: Path, key: str, says: str
) -> None:
    [found] = problems(production(tmp_path, pseudonym_key=SecretStr(key)), DEV)
    assert found.startswith(f"SIGNPOST_PSEUDONYM_KEY {says}")


def test_a_missing_registry_setting_and_an_unreadable_file_are_named(
    tmp_path: Path,
) -> None:
    assert problems(production(tmp_path, clients_file=""), DEV)[0].startswith(
        "SIGNPOST_CLIENTS_FILE is not set"
    )
    gone = tmp_path / "gone.yaml"
    assert problems(production(tmp_path, clients_file=str(gone)), DEV) == [
        f"SIGNPOST_CLIENTS_FILE={gone} cannot be read: give the path of an existing file"
    ]


@pytest.mark.parametrize(
    ("overrides", "says"),
    [
        ({"kafka_sasl_username": None}, "Kafka is not authenticated"),
        ({"kafka_ssl_cafile": None}, "Kafka is not encrypted"),
        ({"tls_keyfile": None}, "HTTP is not encrypted"),
    ],
)
def test_plaintext_connections_are_refused(
    tmp_path: Path, overrides: dict[str, object], says: str
) -> None:
    [found] = problems(production(tmp_path, **overrides), DEV)
    assert found.startswith(says)


def test_the_check_compares_content_not_names(tmp_path: Path) -> None:
    """A development set that lists a file's digest refuses that file wherever it is."""
    mine = tmp_path / "ca.pem"
    dev = DevelopmentIdentities(
        DEV.directory, frozenset({sha256(b"a committed ca\n")}), DEV.public_keys
    )
    settings = production(tmp_path)
    mine.write_bytes(b"a committed ca\n")
    [found] = problems(settings, dev)
    assert found.startswith(f"SIGNPOST_KAFKA_SSL_CAFILE={mine} is a copy")


def test_the_committed_digests_match_deploy_dev() -> None:
    """Regenerate with `signpost tokens dev-registry` (it rewrites signpost/dev_identities.json)."""
    assert DIGESTS_FILE.read_text() == scan().as_json()


def test_an_image_without_deploy_dev_still_refuses_a_copy_of_the_registry(
    tmp_path: Path,
) -> None:
    image = development_identities(directory=tmp_path / "no-deploy-dev")
    copy = tmp_path / "clients.yaml"
    copy.write_bytes((DEV_DIR / "clients.yaml").read_bytes())
    [found] = problems(production(tmp_path), image)
    assert found.startswith(
        f"SIGNPOST_CLIENTS_FILE={copy} is a copy of a committed development file"
    )
