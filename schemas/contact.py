"""Plausibility checks for how a patient is reached and where they live.

These catch slips at the point of referral (a digit short, a name typed into
the phone box); they do not prove a number rings or a postcode exists.
"""

import re

# Digits and spaces, optionally one leading "+": what a receptionist types and a pharmacy can dial.
_PHONE_CHARACTERS = re.compile(r"\+?[0-9 ]+")
# WHATWG's "valid e-mail address", requiring a dot in the domain as real mailboxes have.
_EMAIL = re.compile(
    r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+"
)
# The UK government data standard's postcode pattern (BS 7666), plus GIR 0AA; either case, one optional space.
_OUTWARD = r"[A-PR-UWYZ]([0-9]{1,2}|[A-HK-Y][0-9]{1,2}|[0-9][A-HJKPS-UW]|[A-HK-Y][0-9][ABEHMNPRV-Y])"
UK_POSTCODE_PATTERN = rf"^(GIR ?0AA|{_OUTWARD} ?[0-9][ABD-HJLNP-UW-Z]{{2}})$"
_UK_POSTCODE = re.compile(UK_POSTCODE_PATTERN, re.IGNORECASE)


def is_plausible_uk_phone(value: str) -> bool:
    """0 then 9 or 10 more digits (01632 960 123, 07700 900001), or +44 then 9 or 10 digits not starting 0."""
    if not _PHONE_CHARACTERS.fullmatch(value):
        return False
    digits = value.replace(" ", "").lstrip("+")
    if value.startswith("+"):
        national = digits.removeprefix("44")
        return (
            digits.startswith("44")
            and not national.startswith("0")
            and len(national) in (9, 10)
        )
    return digits.startswith("0") and len(digits) in (10, 11)


def looks_like_email(value: str) -> bool:
    return _EMAIL.fullmatch(value) is not None


def is_uk_postcode(value: str) -> bool:
    return _UK_POSTCODE.fullmatch(value) is not None
