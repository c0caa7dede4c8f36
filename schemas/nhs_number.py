"""NHS number check digit (modulus 11), as NHS Digital specifies it."""

WEIGHTS = (10, 9, 8, 7, 6, 5, 4, 3, 2)


def normalise(value: str) -> str:
    """Accept the printed form '943 476 5919' as well as ten bare digits."""
    return value.replace(" ", "").replace("-", "")


def check_digit(first_nine: str) -> int | None:
    """The check digit for nine digits, or None when no valid number can end them (remainder 10)."""
    total = sum(int(d) * w for d, w in zip(first_nine, WEIGHTS, strict=True))
    check = 11 - total % 11
    if check == 11:
        return 0
    return None if check == 10 else check


def is_valid_nhs_number(value: str) -> bool:
    digits = normalise(value)
    if len(digits) != 10 or not digits.isascii() or not digits.isdigit():
        return False
    return check_digit(digits[:9]) == int(digits[9])
