"""No code that may run on a ``database.statements`` connection leaves session state behind.

Such a connection goes back to the pool without asyncpg's reset, so a session
advisory lock, a LISTEN, a ``SET`` without ``LOCAL``, a ``set_config`` that
is not local or a cursor ``WITH HOLD`` would pass to the next request or batch
(another client's). The few places that need session state take an ordinary
connection, which is reset on release, and are named here.
"""

import re
from pathlib import Path

ROOT = Path(__file__).parents[3]
# Ordinary pool connections (reset on release) or connections of their own.
OWNERS = {
    "signpost/database.py": "migrations: a session advisory lock and SET ROLE",
    "signpost/database_roles.py": "provisioning, on connections of its own",
    "signpost/outbox.py": "the relay leader: a session advisory lock and LISTEN",
}
SESSION_STATE = [
    re.compile(r"pg_(try_)?advisory_lock(_shared)?\("),
    re.compile(r"\bLISTEN\b|add_listener\("),
    # Upper case, as every statement here is written: a docstring's "Set ..." is not SQL.
    re.compile(r"""["']\s*SET\s+(?!LOCAL\b)(ROLE\b|SESSION\b|[\w.]+\s*(=|TO\b))"""),
    re.compile(r"set_config\((?![^)]*\btrue\s*\))", re.IGNORECASE),
    re.compile(r"WITH\s+HOLD", re.IGNORECASE),
]


def offences(root: Path) -> list[str]:
    found = []
    for path in sorted(
        [*root.glob("signpost/**/*.py"), *root.glob("services/**/*.py")]
    ):
        name = path.relative_to(root).as_posix()
        if name in OWNERS:
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if any(pattern.search(line) for pattern in SESSION_STATE):
                found.append(f"{name}:{number}: {line.strip()}")
    return found


def test_only_the_named_owners_take_session_state() -> None:
    assert offences(ROOT) == []


def test_each_kind_of_session_state_is_caught(tmp_path: Path) -> None:
    store = tmp_path / "services" / "x" / "store"
    store.mkdir(parents=True)
    lines = [
        'await conn.execute("SELECT pg_advisory_lock($1)", k)',
        'await conn.execute("LISTEN changes")',
        "await conn.execute(\"SET work_mem = '64MB'\")",
        'await conn.execute("SET ROLE signpost_intake")',
        "await conn.execute(\"SELECT set_config('role', 'x', false)\")",
        'await conn.execute("DECLARE c CURSOR WITH HOLD FOR SELECT 1")',
    ]
    fine = [
        'await conn.execute("SELECT pg_advisory_xact_lock($1)", k)',
        'await conn.execute("SET LOCAL ROLE signpost_audit_writer")',
        "await conn.execute(\"SELECT set_config('signpost.x', 'on', true)\")",
        'await conn.execute("UPDATE outbox SET published_at = now()")',
    ]
    (store / "rows.py").write_text("\n".join(lines + fine) + "\n")
    assert [o.split(": ", 1)[1] for o in offences(tmp_path)] == lines
