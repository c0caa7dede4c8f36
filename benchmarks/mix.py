"""A realistic mix of referrals for the benchmark, as the day in a borough looks.

Most are GP receptions triaging callers to Pharmacy First; some are
professionals' multi-need referrals that fan out to several agencies and
the MDT huddle; a few are single needs for one community service. Patients
are registered across the borough's practices, so every network works.
"""

import json
import random
from dataclasses import dataclass
from typing import Any

from toolbox.stack import REPO

BASE: dict[str, Any] = json.loads(
    (REPO / "tests" / "support" / "data" / "pharmacy_first_referral.json").read_text()
)
PRACTICES = [f"H81{n:03d}" for n in range(1, 51)]
PHARMACY_FIRST_NEEDS = ["sore_throat", "sinusitis", "infected_insect_bite", "impetigo"]
MULTI_NEED = [
    (["home_heating", "loneliness"], []),
    (["falls", "loneliness"], ["medicines_stockpile"]),
    (["social_care_assessment"], ["medicines_stockpile", "expired_medicines"]),
]
SINGLE_NEED = [["medicines_optimisation"], ["falls"], ["loneliness"]]
# Who sends each kind (a token can submit only as its own organisation).
GP, ICN_PHARMACIST = "gp-h81001", "icn-pharmacist-rj6"


@dataclass(frozen=True)
class Submission:
    kind: str
    client: str
    body: dict[str, Any]


def submission(rng: random.Random) -> Submission:
    """60% Pharmacy First from a GP reception, 30% multi-need from an ICN pharmacist, 10% single need."""
    body: dict[str, Any] = json.loads(json.dumps(BASE))
    body["patient"]["gp_practice_ods"] = rng.choice(PRACTICES)
    roll = rng.random()
    if roll < 0.6:
        body["needs"] = [rng.choice(PHARMACY_FIRST_NEEDS)]
        return Submission("pharmacy_first", GP, body)
    body["referrer"] = {
        "ods_code": "RJ6",
        "practitioner": "ICN pharmacist B",
        "role": "pharmacist",
    }
    del body["chosen_pharmacy_ods"]
    if roll < 0.9:
        body["needs"], body["red_flags"] = (list(x) for x in rng.choice(MULTI_NEED))
        return Submission("multi_need", ICN_PHARMACIST, body)
    body["needs"] = rng.choice(SINGLE_NEED)
    return Submission("single_need", ICN_PHARMACIST, body)
