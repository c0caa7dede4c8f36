"""Who a webhook is for: an agency (its referrals) or a referrer organisation (its feedback).

Both use the same webhook machinery and tables, keyed by receiver: an agency
by its id, a referrer as ``referrer:<ODS code>``. No agency id holds a colon,
so an agency can never reach a referrer's webhook by choosing its id.
"""

from schemas.topics import agency_referrals, practice_feedback

REFERRER_PREFIX = "referrer:"


def referrer_receiver(ods_code: str) -> str:
    return f"{REFERRER_PREFIX}{ods_code}"


def referrer_of(receiver: str) -> str | None:
    """The ODS code of a referrer's receiver key, or None for an agency."""
    return (
        receiver.removeprefix(REFERRER_PREFIX)
        if receiver.startswith(REFERRER_PREFIX)
        else None
    )


def receiver_topic(receiver: str) -> str:
    """Where a receiver's deliveries travel on Kafka: the agency's referrals, or the referrer's feedback."""
    ods = referrer_of(receiver)
    return practice_feedback(ods) if ods is not None else agency_referrals(receiver)


def receiver_event_type(receiver: str) -> str:
    return (
        "practice.feedback" if referrer_of(receiver) is not None else "agency.referral"
    )
