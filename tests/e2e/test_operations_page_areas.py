"""The operations page's weekly report for one area, in headless Chromium: Dorset's hub reads in Dorset's words.

On the shared stack, like the page's own tests whose fixtures it uses: it asserts on its own referral's
network and on the words, never on counts.
"""

import httpx
from playwright.sync_api import Page, expect

from tests.e2e.test_operations_page import WAIT_MS, browser, ops_page  # noqa: F401 - the page's fixtures
from tests.e2e.test_routing_scenarios import PHARMACIST, professional_referral
from tests.support.running_stack import bearer
from toolbox.stack import Stack


def test_choosing_dorset_shows_only_its_hub_titled_and_labelled_in_dorsets_words(
    ops_page: tuple[Page, list[str]],  # noqa: F811 - the fixture imported above
    shared_stack: Stack,
) -> None:
    page, errors = ops_page
    body = professional_referral(["home_heating", "loneliness"], practice="J81001")
    response = httpx.post(
        f"{shared_stack.url('intake')}/v1/referrals",
        json=body,
        headers=bearer(PHARMACIST),
        timeout=10,
    )
    referral_id = response.json()["referral_id"]
    delivered = page.locator(
        f'#feed tbody tr[data-referral-id="{referral_id}"][data-event-type="assignment.delivered"]'
    )
    expect(delivered).to_have_count(2, timeout=WAIT_MS)

    page.get_by_label("Area").select_option(label="Dorset")
    network = page.locator("#report-network-caption")
    expect(network).to_contain_text("Assignments by hub", timeout=WAIT_MS)
    expect(network).to_contain_text("dorset-purbeck-hub")
    expect(page.locator("#report-network-chart")).to_have_attribute(
        "aria-label", "Assignments by hub, per week"
    )
    legend = page.locator("#report-caption")
    expect(legend).to_contain_text("virtual ward")
    expect(legend).to_contain_text("health and social care coordinator")
    expect(legend).not_to_contain_text("MDT huddle")
    bar = page.locator('#report-chart rect.bar[data-series="mdt_huddle"]').last
    expect(bar.locator("title")).to_contain_text("virtual ward")

    page.get_by_label("Area").select_option(label="All areas")
    expect(network).to_contain_text("Assignments by network", timeout=WAIT_MS)
    assert not errors, f"the page logged errors: {errors}"
