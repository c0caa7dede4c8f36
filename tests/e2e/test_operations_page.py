"""The operations page in headless Chromium, against the four running services.

Debian's Chromium (``apt-get install -y chromium``) is driven by Playwright's
Python package; Playwright's own browser downloads are never used.
"""

import asyncio
import json
import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from aiokafka import AIOKafkaProducer
from playwright.sync_api import (
    Browser,
    ConsoleMessage,
    Page,
    Route,
    expect,
    sync_playwright,
)

from tests.support.running_stack import audit_trail, bearer, eventually
from tests.support.shared_stack import Shared
from toolbox.stack import Stack
from toolbox.tokens import dev_token

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
REFERRAL = json.loads(
    (
        Path(__file__).parents[1] / "support" / "data" / "pharmacy_first_referral.json"
    ).read_text()
)
FLOW = ("referral.submitted", "referral.routed", "assignment.delivered")
WAIT_MS = 45_000


@pytest.fixture(scope="module")
def browser(shared_stacks: Shared) -> Iterator[Browser]:
    # Playwright's sync API runs an event loop in this thread, so the stack (which uses asyncio.run) starts first.
    shared_stacks.get(__name__)
    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} not found: install it with `apt-get update && apt-get install -y chromium`"
        )
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        yield chromium
        chromium.close()


@pytest.fixture
def ops_page(browser: Browser, shared_stack: Stack) -> Iterator[tuple[Page, list[str]]]:
    """The page, signed in with an operations token and following the live feed; plus its console errors."""
    context = browser.new_context(viewport={"width": 1440, "height": 1100})
    page = context.new_page()
    errors: list[str] = []
    page.on(
        "console",
        lambda m: (
            errors.append(f"{m.text} ({m.location.get('url')})")
            if _is_error(m)
            else None
        ),
    )
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(f"{shared_stack.url('audit')}/ops")
    page.get_by_label("Bearer token").fill(dev_token("operations"))
    page.get_by_role("button", name="Connect").click()
    expect(page.locator("#connection")).to_have_attribute(
        "data-state", "live", timeout=WAIT_MS
    )
    yield page, errors
    context.close()


def _is_error(message: ConsoleMessage) -> bool:
    return message.type == "error"


def test_a_submitted_referral_flows_through_the_live_feed(
    ops_page: tuple[Page, list[str]], shared_stack: Stack, tmp_path: Path
) -> None:
    page, errors = ops_page
    response = httpx.post(
        f"{shared_stack.url('intake')}/v1/referrals",
        json=REFERRAL,
        headers=bearer("gp-h81001"),
        timeout=10,
    )
    assert response.status_code == 202
    referral_id = response.json()["referral_id"]

    for event_type in FLOW:
        row = page.locator(
            f'#feed tbody tr[data-referral-id="{referral_id}"][data-event-type="{event_type}"]'
        )
        expect(row.first).to_be_visible(timeout=WAIT_MS)
        expect(row.first).to_contain_text(referral_id)

    for group in ("signpost-router", "signpost-notifier", "signpost-audit"):
        expect(
            page.locator(f'#lag tbody tr[data-group-id="{group}"]').first
        ).to_be_visible(timeout=WAIT_MS)

    page.screenshot(
        path=tmp_path / "ops.png", full_page=True
    )  # kept by pytest for a failed run's reader, per run
    shown = page.locator("body").inner_text()
    patient = REFERRAL["patient"]
    for identifier in (
        patient["nhs_number"],
        patient["given_name"],
        patient["family_name"],
        patient["postcode"],
    ):
        assert identifier not in shown
    assert not errors, f"the page logged errors: {errors}"


def test_a_poison_record_appears_in_the_dead_letter_panel(
    ops_page: tuple[Page, list[str]], shared_stack: Stack
) -> None:
    page, errors = ops_page
    # Playwright's event loop owns this thread; the producer gets a loop of its own in another.
    with ThreadPoolExecutor(1) as pool:
        partition, offset = pool.submit(
            asyncio.run, _produce_poison(shared_stack.kafka_bootstrap)
        ).result()

    # Audit follows every topic too, so it dead-letters the same record under its own name; this row is the router's.
    row = page.locator(
        "#dead-letters tbody tr",
        has_text=re.compile(
            rf"referral\.submitted\s*partition {partition}, offset {offset}(?!\d)"
        ),
    ).filter(has_text="signpost-router")
    expect(row).to_have_count(1, timeout=WAIT_MS)
    expect(row).to_contain_text(
        re.compile("schema violation|Invalid JSON", re.IGNORECASE)
    )
    assert not errors, f"the page logged errors: {errors}"


def test_a_dead_letter_is_replayed_from_the_page_once_then_again_on_request(
    ops_page: tuple[Page, list[str]], shared_stack: Stack
) -> None:
    page, errors = ops_page
    with ThreadPoolExecutor(1) as pool:
        partition, offset = pool.submit(
            asyncio.run, _produce_poison(shared_stack.kafka_bootstrap)
        ).result()
    source = re.compile(
        rf"referral\.submitted\s*partition {partition}, offset {offset}(?!\d)"
    )
    rows = page.locator("#dead-letters tbody tr", has_text=source)
    router_row, audit_row = (
        rows.filter(has_text="signpost-router"),
        rows.filter(has_text="signpost-audit"),
    )
    expect(router_row).to_have_count(1, timeout=WAIT_MS)
    expect(audit_row).to_have_count(1, timeout=WAIT_MS)
    # Audit and the notifier each read the dead letter from Kafka; replay once the notifier, which replays it, has it.
    letter_id = router_row.get_attribute("data-dead-letter-id")
    refusals = page.locator(
        "#dead-letters tbody tr",
        has_text=f"a replay of dead letter {letter_id}, refused again",
    )
    eventually(
        lambda: _notifier_has(shared_stack, letter_id),
        what="the notifier to keep the dead letter",
    )

    router_row.get_by_role("button", name="Replay", exact=True).click()
    expect(router_row.get_by_role("status")).to_contain_text(
        "by operations", timeout=WAIT_MS
    )
    expect(
        page.locator('#feed tbody tr[data-event-type="dead_letter.replayed"]').first
    ).to_be_visible(timeout=WAIT_MS)
    # The record went back on its topic to both consumers that refused it; still not JSON, so each refuses it again.
    expect(refusals.filter(has_text="signpost-router")).to_have_count(
        1, timeout=WAIT_MS
    )
    expect(refusals.filter(has_text="signpost-audit")).to_have_count(1, timeout=WAIT_MS)
    expect(audit_row.get_by_role("button", name="Replay again")).to_be_visible(
        timeout=WAIT_MS
    )
    expect(audit_row.get_by_role("status")).to_contain_text("by operations")

    router_row.get_by_role("button", name="Replay again").click()
    expect(router_row.get_by_role("status")).to_contain_text(
        "(2 times)", timeout=WAIT_MS
    )
    expect(refusals).to_have_count(4, timeout=WAIT_MS)

    once_more = httpx.post(
        f"{shared_stack.url('audit')}/v1/operations/dead-letters/{letter_id}/replay",
        headers=bearer("operations"),
        timeout=10,
    )
    assert once_more.status_code == 409, "without force a record goes back once"
    assert "already replayed" in once_more.json()["detail"]
    assert not errors, f"the page logged errors: {errors}"


def _notifier_has(stack: Stack, dead_letter_id: str | None) -> bool:
    url = f"{stack.url('notifier')}/v1/dead-letters"
    listed = httpx.get(
        url, params={"limit": 1000}, headers=bearer("operations"), timeout=10
    )
    return any(d["dead_letter_id"] == dead_letter_id for d in listed.json()["items"])


async def _produce_poison(bootstrap: str) -> tuple[int, int]:
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks="all", enable_idempotence=True
    )
    await producer.start()
    try:
        sent = await producer.send_and_wait(
            "referral.submitted", b"not json at all", key=b"operations-page-poison"
        )
        return int(sent.partition), int(sent.offset)
    finally:
        await producer.stop()


@pytest.mark.hazard("HAZ-019")
def test_an_unroutable_referral_is_assigned_by_hand_from_the_queue(
    ops_page: tuple[Page, list[str]], shared_stack: Stack
) -> None:
    page, errors = ops_page
    body = json.loads(json.dumps(REFERRAL))
    body["referrer"] = {
        "ods_code": "RJ6",
        "practitioner": "ICN pharmacist B",
        "role": "pharmacist",
    }
    body["patient"]["gp_practice_ods"], body["needs"] = "Y99999", ["home_heating"]
    del body["chosen_pharmacy_ods"]
    intake = shared_stack.url("intake")
    response = httpx.post(
        f"{intake}/v1/referrals",
        json=body,
        headers=bearer("icn-pharmacist-rj6"),
        timeout=10,
    )
    referral_id = response.json()["referral_id"]

    row = page.locator("#unroutable tbody tr", has_text=referral_id)
    expect(row).to_be_visible(timeout=WAIT_MS)
    row.get_by_label("service id to assign to").fill("social-services-croydon-north")
    row.get_by_label("reason for the assignment").fill(
        "patient lives in Croydon North; GP registration pending"
    )
    row.get_by_role("button", name="Assign").click()
    expect(row.get_by_role("status")).to_have_text(
        "assigned to social-services-croydon-north", timeout=WAIT_MS
    )
    delivered = page.locator(
        f'#feed tbody tr[data-referral-id="{referral_id}"][data-event-type="assignment.delivered"]'
    )
    expect(delivered.first).to_be_visible(timeout=WAIT_MS)
    expect(page.locator("#unroutable tbody tr", has_text=referral_id)).to_have_count(
        0, timeout=WAIT_MS
    )

    again = httpx.post(
        f"{shared_stack.url('audit')}/v1/operations/unroutable/{referral_id}/assign",
        headers=bearer("operations"),
        json={"service_id": "pic-croydon-north", "reason": "second thoughts"},
        timeout=10,
    )
    assert again.status_code == 409, "only an unroutable referral is assigned by hand"
    trail = httpx.get(
        f"{shared_stack.url('audit')}/v1/referrals/{referral_id}/audit",
        headers=bearer("operations"),
        timeout=10,
    )
    functions = [
        e["payload"].get("function")
        for e in trail.json()["events"]
        if e["event_type"] == "access.recorded"
    ]
    assert "assign by hand" in functions, (
        "the hand assignment is on the referral's audit trail"
    )
    assert not errors, f"the page logged errors: {errors}"


def test_the_weekly_report_draws_this_weeks_referrals_and_offers_the_csv(
    ops_page: tuple[Page, list[str]], shared_stack: Stack
) -> None:
    page, errors = ops_page
    response = httpx.post(
        f"{shared_stack.url('intake')}/v1/referrals",
        json=REFERRAL,
        headers=bearer("gp-h81001"),
        timeout=10,
    )
    referral_id = response.json()["referral_id"]
    delivered = page.locator(
        f'#feed tbody tr[data-referral-id="{referral_id}"][data-event-type="assignment.delivered"]'
    )
    expect(delivered.first).to_be_visible(timeout=WAIT_MS)
    page.get_by_role("button", name="Refresh").click()
    bar = page.locator('#report-chart rect.bar[data-series="community_pharmacy"]').last
    expect(bar).to_be_visible(timeout=WAIT_MS)
    assert int(bar.get_attribute("data-value") or 0) >= 1
    # Delivered, and no agency has answered yet: the outcome chart counts it as open.
    still_open = page.locator('#report-outcome-chart rect.bar[data-series="open"]').last
    expect(still_open).to_be_visible()
    assert int(still_open.get_attribute("data-value") or 0) >= 1
    expect(page.locator("#report-caption")).to_contain_text("community pharmacy")
    expect(page.locator("#report-headline")).to_contain_text("Acceptance rate")

    page.get_by_label("Week", exact=True).fill("2020-W10")
    expect(page.locator("#report-week")).to_have_text(
        "(2020-W07 to 2020-W10)", timeout=WAIT_MS
    )
    expect(page.locator("#report-chart rect.bar")).to_have_count(0)
    expect(page.locator("#report-headline")).to_contain_text("Referrals in 2020-W10")
    with page.expect_download() as download:
        page.get_by_role("button", name="Download CSV").click()
    assert (
        download.value.suggested_filename == "signpost-weekly-2020-W07-to-2020-W10.csv"
    )
    assert not errors, f"the page logged errors: {errors}"


def test_a_report_answered_late_never_paints_over_the_week_chosen_since(
    ops_page: tuple[Page, list[str]],
) -> None:
    """A refresh for this week, answered after the week was changed to 2020-W10, is set aside, not drawn."""
    page, errors = ops_page
    held: list[Route] = []

    def hold_this_weeks(route: Route) -> None:
        if "week=" in route.request.url:
            route.continue_()
        else:
            held.append(route)

    page.route("**/v1/reports/weekly?*", hold_this_weeks)
    page.get_by_label("Week", exact=True).fill("")
    with page.expect_request(lambda r: "/v1/reports/weekly?" in r.url):
        page.get_by_role("button", name="Refresh").click()
    page.get_by_label("Week", exact=True).fill("2020-W10")
    page.get_by_label("Week", exact=True).dispatch_event("change")
    label = page.locator("#report-week")
    expect(label).to_have_text("(2020-W07 to 2020-W10)", timeout=WAIT_MS)
    assert held, "this week's report was held back"
    set_aside = "Number(document.getElementById('report-week').dataset.discarded || 0)"
    before = page.evaluate(set_aside)
    for route in held:
        route.continue_()
    # Until the page has set the held answers aside (other loads it started may have been set aside already).
    page.wait_for_function(
        f"n => {set_aside} >= n", arg=before + len(held), timeout=WAIT_MS
    )
    expect(label).to_have_text("(2020-W07 to 2020-W10)")
    page.unroute("**/v1/reports/weekly?*")
    assert not errors, f"the page logged errors: {errors}"


def test_only_operations_staff_assign_by_hand(shared_stack: Stack) -> None:
    url = f"{shared_stack.url('router')}/v1/referrals/{REFERRAL_ID_UNKNOWN}/assignments"
    pic = {"service_id": "pic-croydon-north", "reason": "why not"}
    assert (
        httpx.post(url, json=pic, headers=bearer("gp-h81001"), timeout=10).status_code
        == 403
    )
    assert (
        httpx.post(url, json=pic, headers=bearer("operations"), timeout=10).status_code
        == 404
    )
    unknown = httpx.post(
        url,
        json={**pic, "service_id": "no-such-service"},
        headers=bearer("operations"),
        timeout=10,
    )
    assert (unknown.status_code, unknown.json()["detail"]) == (
        422,
        "service no-such-service is not in the directory",
    )


REFERRAL_ID_UNKNOWN = "00000000-0000-4000-8000-000000000001"


def test_the_operations_views_are_for_operations_staff_only(
    shared_stack: Stack,
) -> None:
    audit = shared_stack.url("audit")
    for path in ("consumer-lag", "unroutable", "escalations", "dead-letters"):
        for client in ("gp-h81001", "agency-demo-pharmacy"):
            response = httpx.get(
                f"{audit}/v1/operations/{path}", headers=bearer(client), timeout=10
            )
            assert response.status_code == 403, (path, client)
        assert httpx.get(f"{audit}/v1/operations/{path}", timeout=10).status_code == 401
    replay = f"{audit}/v1/operations/dead-letters/{REFERRAL_ID_UNKNOWN}/replay"
    for client in ("gp-h81001", "agency-demo-pharmacy"):
        assert (
            httpx.post(replay, headers=bearer(client), timeout=10).status_code == 403
        ), client
    assert httpx.post(replay, timeout=10).status_code == 401
    unknown = httpx.post(replay, headers=bearer("operations"), timeout=10)
    assert (unknown.status_code, unknown.json()["detail"]) == (
        404,
        f"no dead letter {REFERRAL_ID_UNKNOWN}",
    )


def test_the_page_loads_nothing_from_elsewhere(shared_stack: Stack) -> None:
    response = httpx.get(f"{shared_stack.url('audit')}/ops", timeout=10)
    assert response.status_code == 200
    assert "default-src 'none'" in response.headers["content-security-policy"]
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", response.text)
    assert (
        httpx.get(
            f"{shared_stack.url('audit')}/ops/..%2Fapi.py", timeout=10
        ).status_code
        == 404
    )


def test_an_expired_token_stops_the_feed_and_a_new_one_carries_on_from_the_last_event(
    browser: Browser, shared_stack: Stack
) -> None:
    context = browser.new_context()
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(f"{shared_stack.url('audit')}/ops")

    def sign_in(token: str) -> None:
        page.get_by_label("Bearer token").fill(token)
        page.get_by_role("button", name="Connect").click()
        expect(page.locator("#connection")).to_have_attribute(
            "data-state", "live", timeout=WAIT_MS
        )

    sign_in(dev_token("operations", lifetime_s=5))
    # The stream ends at the token's expiry and the page asks for a new token (not 30 s later, at the skew limit).
    expect(page.locator("#token-error")).to_contain_text("expired", timeout=15_000)
    expect(page.locator("#token-error")).to_contain_text("carry on after event #")

    # While nobody is signed in, a referral is recorded ...
    response = httpx.post(
        f"{shared_stack.url('intake')}/v1/referrals",
        json=REFERRAL,
        headers=bearer(),
        timeout=10,
    )
    assert response.status_code == 202
    referral_id = response.json()["referral_id"]
    eventually(
        lambda: (
            "referral.submitted"
            in [e["event_type"] for e in audit_trail(shared_stack, referral_id)]
        )
    )

    # ... and the next token's feed shows it: it resumed from the last event, not from the log's end.
    sign_in(dev_token("operations"))
    row = page.locator(
        f'#feed tbody tr[data-referral-id="{referral_id}"][data-event-type="referral.submitted"]'
    )
    expect(row.first).to_be_visible(timeout=WAIT_MS)
    assert not errors, f"the page raised errors: {errors}"
    context.close()
