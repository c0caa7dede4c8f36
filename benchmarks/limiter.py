"""What a rate-limit check costs: threads started and CPU per request, with requests 15 ms apart.

``python -m benchmarks.limiter`` prints a figure; nothing is asserted (speed is for benchmarks, not tests).
Written for issue 17: limits' threaded in-memory storage started a thread on nearly every request.
"""

import asyncio
import threading
import time
from typing import Any

from signpost.clients import Principal
from signpost.rate_limit import Allowances, RateLimiter

CHECKS = 400
GAP_S = 0.015
GP = Principal("gp-h81001", "H81001", "referrer")


async def measure(checks: int = CHECKS) -> str:
    started = 0
    start = threading.Thread.start

    def counting(thread: threading.Thread) -> None:
        nonlocal started
        started += 1
        start(thread)

    threading.Thread.start = counting  # type: ignore[method-assign,assignment]
    try:
        allowances = Allowances.parse(
            {
                "referrer": "1000000/minute",
                "agency": "1/minute",
                "operations": "1/minute",
            },
            {},
        )
        limiter = RateLimiter(allowances)
        in_call = 0.0
        before = time.process_time()
        for _ in range(checks):
            t = time.process_time()
            await limiter.check(GP)
            in_call += time.process_time() - t
            await asyncio.sleep(GAP_S)
        total = time.process_time() - before
    finally:
        threading.Thread.start = start  # type: ignore[method-assign]
    return (
        f"{checks} checks {GAP_S * 1000:.0f} ms apart: {started} threads started, {in_call / checks * 1e6:.0f} us CPU "
        f"in the check, {total / checks * 1e6:.0f} us of process CPU per request in all"
    )


def main(*_: Any) -> None:
    print(asyncio.run(measure()))


if __name__ == "__main__":
    main()
