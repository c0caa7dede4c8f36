"""Free text in the contract: no control characters, ever.

Control characters in a name or a note break the screens, logs and CSV
exports that agencies read them in, and can hide text from a reviewer.
Notes may span lines, so they keep newline and tab; every other string is
one line. The same rule travels in the JSON Schema as a ``pattern``, so
agencies that do not run Python refuse what Signpost refuses.
"""

import re
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import GetCoreSchemaHandler, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, PydanticCustomError, core_schema

# Unicode category Cc: C0 controls, DEL and the C1 controls.
_CONTROL = "\\x00-\\x1f\\x7f-\\x9f"
_CONTROL_EXCEPT_NEWLINE_AND_TAB = "\\x00-\\x08\\x0b-\\x1f\\x7f-\\x9f"


@dataclass(frozen=True)
class NoControlCharacters:
    """Annotation: refuse control characters, other than those the field allows, with a message naming the rule."""

    forbidden: str
    message: str

    def check(self, value: str) -> str:
        if re.search(f"[{self.forbidden}]", value):
            raise PydanticCustomError("control_characters", self.message)
        return value

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> CoreSchema:
        return core_schema.no_info_after_validator_function(self.check, handler(source))

    def __get_pydantic_json_schema__(
        self, schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        json_schema = handler(schema)
        json_schema["pattern"] = f"^[^{self.forbidden}]*$"
        return json_schema


def _refuse_blank(value: str) -> str:
    if not value.strip():
        raise PydanticCustomError("blank_text", "must not be blank")
    return value


class NotBlank:
    """Annotation: a name or identifier made only of spaces is no name at all."""

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> CoreSchema:
        return core_schema.no_info_after_validator_function(
            _refuse_blank, handler(source)
        )


SINGLE_LINE = NoControlCharacters(
    _CONTROL, "control characters (including line breaks) are not allowed in this text"
)
MULTI_LINE = NoControlCharacters(
    _CONTROL_EXCEPT_NEWLINE_AND_TAB,
    "control characters other than newline and tab are not allowed",
)
NOT_BLANK = NotBlank()

# Length limits go before the marker inside ``Annotated`` (``Annotated[str, Field(max_length=n), SINGLE_LINE]``)
# so pydantic checks them on the string itself; on a required field ``Text = Field(max_length=n)`` works too.
Text = Annotated[str, SINGLE_LINE]
Notes = Annotated[str, MULTI_LINE]
