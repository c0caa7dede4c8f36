"""Who may submit and read referrals at intake, with real signed tokens."""

import json
import time
from pathlib import Path

import httpx
import jwt
import pytest

from tests.support.running_stack import bearer, eventually
from toolbox.stack import Stack

REFERRAL = json.loads(
    (
        Path(__file__).parents[1] / "support" / "data" / "pharmacy_first_referral.json"
    ).read_text()
)


def post(
    stack: Stack, headers: dict[str, str], body: dict[str, object] | None = None
) -> httpx.Response:
    return httpx.post(
        f"{stack.url('intake')}/v1/referrals",
        json=body or REFERRAL,
        headers=headers,
        timeout=10,
    )


def read(stack: Stack, referral_id: str, client: str) -> httpx.Response:
    return httpx.get(
        f"{stack.url('intake')}/v1/referrals/{referral_id}",
        headers=bearer(client),
        timeout=10,
    )


def test_no_token_is_401_with_a_bearer_challenge(shared_stack: Stack) -> None:
    response = post(shared_stack, {})
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert response.headers["content-type"].startswith("application/problem+json")


@pytest.mark.parametrize(
    "token",
    [
        "not-a-jwt",
        jwt.encode(
            {"sub": "gp-h81001"},
            "secret",
            algorithm="HS256",
            headers={"kid": "gp-h81001"},
        ),
    ],
    ids=["garbage", "wrong-algorithm-and-key"],
)
def test_invalid_tokens_are_401(shared_stack: Stack, token: str) -> None:
    assert post(shared_stack, {"Authorization": f"Bearer {token}"}).status_code == 401


def test_an_expired_token_is_401_and_says_so(shared_stack: Stack) -> None:
    from signpost.clients import load_clients, mint
    from toolbox.tokens import DEV_DIR

    client = load_clients(DEV_DIR / "clients.yaml")["gp-h81001"]
    token = mint(
        client,
        (DEV_DIR / "keys" / "gp-h81001.pem").read_text(),
        lifetime_s=60,
        now=time.time() - 3600,
    )
    response = post(shared_stack, {"Authorization": f"Bearer {token}"})
    assert response.status_code == 401
    assert "expired" in response.json()["detail"]


@pytest.mark.hazard("HAZ-015")
def test_a_client_cannot_submit_as_another_organisation(shared_stack: Stack) -> None:
    response = post(shared_stack, bearer("gp-h81002"))
    assert response.status_code == 403
    assert "own organisation" in response.json()["detail"]


def test_the_operations_role_cannot_submit(shared_stack: Stack) -> None:
    assert post(shared_stack, bearer("operations")).status_code == 403


def test_referrer_assigned_agency_and_operations_read_a_referral_others_do_not(
    shared_stack: Stack,
) -> None:
    referral_id = post(shared_stack, bearer("gp-h81001")).json()["referral_id"]
    assert read(shared_stack, referral_id, "gp-h81001").status_code == 200
    assert read(shared_stack, referral_id, "operations").status_code == 200
    assert read(shared_stack, referral_id, "gp-h81002").status_code == 404
    # The agency sees it once it has been assigned to them.
    summary = eventually(
        lambda: (
            (r := read(shared_stack, referral_id, "gp-h81001").json())["assignments"]
            and r
        ),
        what="the assignment to reach intake's read model",
    )
    agencies = {a["agency_id"] for a in summary["assignments"]}
    assert "demo-pharmacy" in agencies
    assert read(shared_stack, referral_id, "agency-demo-pharmacy").status_code == 200
    assert summary["status"] == "routed"
    assert summary["versions"][0]["version"] == 1
