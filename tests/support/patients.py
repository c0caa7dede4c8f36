"""Patients of a test's own: on the shared stack a fixed NHS number would meet every other module's referrals."""

import random
import string

from schemas.nhs_number import check_digit


def made_up_nhs_number() -> str:
    """A random NHS number that passes the modulus 11 check (one in 10^9: no two tests share one)."""
    while True:
        first_nine = "".join(random.choices(string.digits, k=9))
        check = check_digit(first_nine)
        if check is not None:
            return f"{first_nine}{check}"
