"""Write the language-neutral contract: JSON Schema per event and document, and the AsyncAPI description.

``python -m schemas.generate`` rewrites them (``make schemas``);
``python -m schemas.generate --check`` changes nothing and exits 1 naming
any file that is stale, missing or no longer generated. Output is
deterministic (sorted keys, fixed formatting) so a diff shows a real change.
"""

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import yaml

from schemas.asyncapi import asyncapi_document
from schemas.referral import Strict
from schemas.version import DOCUMENTS, EVENTS

ROOT = Path(__file__).resolve().parent
JSON_DIR = "json"
ASYNCAPI_FILE = "asyncapi.yaml"
JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"


def json_schema(model: type[Strict], name: str, version: int) -> str:
    schema: dict[str, Any] = {
        "$schema": JSON_SCHEMA_DIALECT,
        "$id": f"urn:signpost:schema:{name}:v{version}",
        **model.model_json_schema(mode="validation"),
    }
    return json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def render() -> dict[str, str]:
    """Every generated file, by path relative to ``schemas/``."""
    files: dict[str, str] = {}
    named = [(c.type, c.model, c.version) for c in EVENTS.values()]
    named += [(name, model, version) for name, (model, version) in DOCUMENTS.items()]
    for name, model, version in named:
        files[f"{JSON_DIR}/{name}.v{version}.json"] = json_schema(model, name, version)
    files[ASYNCAPI_FILE] = yaml.safe_dump(
        asyncapi_document(), sort_keys=False, allow_unicode=True, width=120
    )
    return files


def stale(root: Path = ROOT, wanted: dict[str, str] | None = None) -> list[str]:
    """Files under ``root`` that differ from what ``render`` produces, are missing, or are left over."""
    wanted = render() if wanted is None else wanted
    problems = [
        path
        for path, text in wanted.items()
        if not (root / path).is_file() or (root / path).read_text("utf-8") != text
    ]
    leftovers = {
        p.relative_to(root).as_posix() for p in (root / JSON_DIR).glob("*.json")
    } - wanted.keys()
    return sorted(problems) + sorted(leftovers)


def write(root: Path = ROOT) -> list[str]:
    """Bring the files under ``root`` up to date; returns the paths that changed."""
    wanted = render()
    changed = stale(root, wanted)
    (root / JSON_DIR).mkdir(exist_ok=True)
    for path in changed:
        if path in wanted:
            (root / path).write_text(wanted[path], encoding="utf-8")
        else:
            (root / path).unlink()
    return changed


def main(argv: list[str] | None = None, root: Path = ROOT) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m schemas.generate",
        description="Write Signpost's JSON Schema and AsyncAPI files.",
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="change nothing; exit 1 if any generated file is stale",
    )
    args = parser.parse_args(argv)
    if args.check:
        out_of_date = stale(root)
        if out_of_date:
            print(
                "stale contract artefacts (run `make schemas`):",
                *(f"  schemas/{p}" for p in out_of_date),
                sep="\n",
                file=sys.stderr,
            )
            return 1
        print("contract artefacts are up to date")
        return 0
    changed = write(root)
    print(
        "\n".join(f"wrote schemas/{p}" for p in changed)
        or "contract artefacts were already up to date"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
