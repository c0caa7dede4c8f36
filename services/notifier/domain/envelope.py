"""The envelope fields every event about a delivered assignment shares with the referral it came from."""

from typing import Any

from schemas.ids import derived_event_id


def following(delivery: dict[str, Any]) -> dict[str, Any]:
    """Correlation, journey, patient key and referral: what keeps one referral's events in one trail and one order."""
    return {
        "correlation_id": delivery["correlation_id"],
        # Deliveries made before migration 003 kept no journey id; derive a stable one rather than invent a new one each time.
        "journey_id": delivery["journey_id"]
        or derived_event_id(delivery["referral_id"], "journey"),
        "producer": "notifier",
        "patient_key": delivery["patient_key"],
        "referral_id": delivery["referral_id"],
    }
