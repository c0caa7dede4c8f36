"""The operations page when its token expires: the feed stops, says so, and a new token carries on from the last event.

Debian's Chromium driven by Playwright, as in ``test_operations_page.py``.
"""

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from signpost.stack import Stack
from signpost.tokens import dev_token
from tests.support.running_stack import audit_trail, bearer, eventually

CHROMIUM = Path("/usr/bin/chromium")
REFERRAL = json.loads((Path(__file__).parents[1] / "support" / "data" / "pharmacy_first_referral.json").read_text())
WAIT_MS = 45_000


@pytest.fixture(scope="module")
def browser(signpost_stack: Stack) -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} not found: install it with `apt-get update && apt-get install -y chromium`")
    with sync_playwright() as playwright:
        args = ["--no-sandbox", "--disable-gpu"]
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=args)
        yield chromium
        chromium.close()


def sign_in(page: Page, token: str) -> None:
    page.get_by_label("Bearer token").fill(token)
    page.get_by_role("button", name="Connect").click()
    expect(page.locator("#connection")).to_have_attribute("data-state", "live", timeout=WAIT_MS)


def test_an_expired_token_stops_the_feed_and_a_new_one_carries_on_from_the_last_event(
    browser: Browser, signpost_stack: Stack
) -> None:
    context = browser.new_context()
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(f"{signpost_stack.url('audit')}/ops")
    sign_in(page, dev_token("operations", lifetime_s=5))

    # The stream ends at the token's expiry and the page asks for a new token (not 30 s later, at the skew limit).
    expect(page.locator("#token-error")).to_contain_text("expired", timeout=15_000)
    expect(page.locator("#token-error")).to_contain_text("carry on after event #")

    # While nobody is signed in, a referral is recorded ...
    response = httpx.post(f"{signpost_stack.url('intake')}/v1/referrals", json=REFERRAL, headers=bearer(), timeout=10)
    assert response.status_code == 202
    referral_id = response.json()["referral_id"]
    recorded = "referral.submitted"
    eventually(lambda: recorded in [e["event_type"] for e in audit_trail(signpost_stack, referral_id)], what="the record")

    # ... and the next token's feed shows it: it resumed from the last event, not from the log's end.
    sign_in(page, dev_token("operations"))
    row = page.locator(f'#feed tbody tr[data-referral-id="{referral_id}"][data-event-type="referral.submitted"]')
    expect(row.first).to_be_visible(timeout=WAIT_MS)
    assert not errors, f"the page raised errors: {errors}"
    context.close()
