"""The router over HTTP: one module per resource (a referral's assignments, the directory)."""
