"""A sketch of an agency's webhook endpoint: verify Signpost's signature before believing a word of the body.

Standard library only. The signature check is copied here on purpose: an
agency should not need Signpost's code, only the scheme in README.md:
``Signpost-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">``.
"""

import hashlib
import hmac
import json
import os
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

TOLERANCE_SECONDS = 300
MAX_BODY = 256 * 1024
seen_event_ids: set[str] = (
    set()
)  # a real agency keeps this in its database, with the referral


def signature_problem(
    secret: bytes, header: str, body: bytes, now: float
) -> str | None:
    """None when the delivery is genuine and fresh; otherwise why not."""
    timestamp: int | None = None
    candidates: list[str] = []
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t" and value.isdigit():
            timestamp = int(value)
        elif key == "v1":
            candidates.append(value)
    if timestamp is None or not candidates:
        return "malformed Signpost-Signature header"
    expected = hmac.new(
        secret, f"{timestamp}.".encode() + body, hashlib.sha256
    ).hexdigest()
    # compare_digest, never ==: the time taken must not reveal how much of a guess was right.
    if not any(
        hmac.compare_digest(expected.encode(), candidate.encode())
        for candidate in candidates
    ):
        return "signature does not match"
    if abs(now - timestamp) > TOLERANCE_SECONDS:
        return "signature timestamp too old or in the future (replay?)"
    return None


class Receiver(BaseHTTPRequestHandler):
    secret = b""  # set from SIGNPOST_WEBHOOK_SECRET at start-up

    def do_POST(self) -> None:
        status, detail = self.receive()
        self.answer(status, detail)

    def receive(self) -> tuple[int, str]:
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            return 413, "body too large"
        body = self.rfile.read(
            length
        )  # verify the raw bytes: re-serialised JSON would not match
        problem = signature_problem(
            self.secret, self.headers.get("Signpost-Signature", ""), body, time.time()
        )
        if problem:
            return 401, problem
        event_id = json.loads(body)["event_id"]
        if event_id in seen_event_ids:
            return (
                200,
                "already received",
            )  # Signpost retries until it hears 2xx; a repeat is not new work
        seen_event_ids.add(event_id)
        # Validate against agency.referral.v1.json and queue it for staff here (see agency_consumer.py); answer quickly.
        return 202, "received"

    def answer(self, status: int, detail: str) -> None:
        payload = json.dumps({"status": status, "detail": detail}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


if __name__ == "__main__":
    Receiver.secret = os.environ["SIGNPOST_WEBHOOK_SECRET"].encode()
    address = (
        os.environ.get("WEBHOOK_HOST", "127.0.0.1"),
        int(os.environ.get("WEBHOOK_PORT", "8080")),
    )
    ThreadingHTTPServer(address, Receiver).serve_forever()
