"""Where one service (or the command line) reaches another."""

from signpost.service_urls import service_url
from signpost.settings import Settings


def test_a_service_is_reached_at_its_url_setting_when_one_is_given() -> None:
    settings = Settings(
        development_mode=True,
        http_host="0.0.0.0",
        router_url="https://signpost-router:8002/",
    )
    assert service_url(settings, "router") == "https://signpost-router:8002"


def test_without_a_url_setting_a_service_is_reached_on_this_host_at_its_port() -> None:
    settings = Settings(
        development_mode=True, http_host="127.0.0.1", notifier_port=18003
    )
    assert service_url(settings, "notifier") == "http://127.0.0.1:18003"
    with_ca = Settings(
        development_mode=True,
        http_host="127.0.0.1",
        notifier_port=18003,
        tls_cafile="ca.pem",
    )
    assert service_url(with_ca, "notifier") == "https://127.0.0.1:18003"
