"""Reading a BaRS ``servicerequest-request`` message: is it one, and what does it contain?

This checks the envelope only: a FHIR R4 Bundle of type message whose first
entry is a MessageHeader for the BaRS referral event, focused on a
ServiceRequest about a Patient, every ``urn:uuid`` reference pointing at an
entry of the same Bundle. What the referral says is ``mapping``'s job.
fhir.resources ships R4 as its R4B models (R4B changed none of the
resources BaRS referrals use).
"""

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, NoReturn, TypeVar

from fhir.resources.R4B import get_fhir_model_class
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.messageheader import MessageHeader
from fhir.resources.R4B.patient import Patient
from fhir.resources.R4B.reference import Reference
from fhir.resources.R4B.resource import Resource
from fhir.resources.R4B.servicerequest import ServiceRequest
from pydantic import ValidationError

from services.intake.domain.fhir.codes import (
    BARS_MESSAGE_EVENTS,
    SERVICEREQUEST_REQUEST,
    same_system,
)
from services.intake.domain.fhir.outcome import FhirRejection, Issue, IssueCode

R = TypeVar("R", bound=Resource)
_LOCAL_REFERENCE_PREFIXES = ("urn:uuid:", "urn:oid:")
MAX_DEPTH = 64


@dataclass(frozen=True)
class Located(Generic[R]):
    """A resource and where it sits in the Bundle, so issues can point at it."""

    resource: R
    path: str


class Entries:
    """The Bundle's resources, found by fullUrl (``urn:uuid:...``) or by ``Type/id``."""

    def __init__(self, bundle: Bundle) -> None:
        self._by_reference: dict[str, Located[Resource]] = {}
        self._all: list[Located[Resource]] = []
        for index, entry in enumerate(bundle.entry or ()):
            if entry.resource is None:
                continue
            located = Located(entry.resource, f"Bundle.entry[{index}].resource")
            self._all.append(located)
            if entry.fullUrl:
                self._by_reference.setdefault(entry.fullUrl, located)
            if entry.resource.id:
                self._by_reference.setdefault(
                    f"{entry.resource.get_resource_type()}/{entry.resource.id}", located
                )

    def resolve(self, reference: Reference | None) -> Located[Resource] | None:
        if reference is None or not reference.reference:
            return None
        return self._by_reference.get(reference.reference)

    def of_type(self, kind: type[R]) -> Iterator[Located[R]]:
        for located in self._all:
            if isinstance(located.resource, kind):
                yield Located(located.resource, located.path)


@dataclass(frozen=True)
class BarsMessage:
    """A BaRS referral request whose envelope checked out."""

    bundle: Bundle
    entries: Entries
    header: Located[MessageHeader]
    service_request: Located[ServiceRequest]
    patient: Located[Patient]

    @property
    def reason(self) -> str | None:
        """MessageHeader.reason code: ``new`` or ``update`` in BaRS."""
        reason = self.header.resource.reason
        codings = reason.coding if reason and reason.coding else []
        return next((c.code for c in codings if c.code), None)


def parse_bundle(body: bytes | Mapping[str, Any]) -> BarsMessage:
    """Parse and check a BaRS servicerequest-request message, or raise FhirRejection saying why not."""
    data = _decode(body)
    bundle = _validated_bundle(data)
    if bundle.type != "message":
        _reject(
            "value",
            f"Bundle.type must be 'message' for a BaRS message, not {bundle.type!r}",
            "Bundle.type",
        )
    entries = Entries(bundle)
    header = _header(bundle)
    _check_references(data)
    service_request = _focus(header, entries)
    patient = _subject(service_request, entries)
    return BarsMessage(bundle, entries, header, service_request, patient)


def reference_issue(reference: Reference | None, at: str, expected: str) -> Issue:
    """The issue for a reference that does not lead to the kind of entry it must."""
    if reference is None:
        return Issue("required", f"{at} must reference a {expected}", at)
    if not reference.reference:
        return Issue(
            "invalid",
            f"{at} must reference a {expected} entry of this Bundle by its fullUrl",
            at,
        )
    return Issue(
        "invalid",
        f"{at} must reference a {expected} in this Bundle; {reference.reference!r} does not",
        at,
    )


def _decode(body: bytes | Mapping[str, Any]) -> dict[str, Any]:
    if isinstance(body, bytes | bytearray):
        try:
            decoded = json.loads(body)
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            _reject("structure", f"body is not JSON: {error}")
        except RecursionError:
            _reject("structure", f"JSON nested more than {MAX_DEPTH} levels deep")
    else:
        decoded = dict(body)
    if not isinstance(decoded, dict):
        _reject("structure", "body must be a JSON object: a FHIR Bundle")
    kind = decoded.get("resourceType")
    if kind != "Bundle":
        _reject(
            "structure",
            f"expected a FHIR Bundle (BaRS message), got resourceType {kind!r}",
            "Bundle",
        )
    if _too_deep(decoded):
        # fhir.resources validates recursively; real BaRS bundles nest a dozen levels, not hundreds.
        _reject("structure", f"JSON nested more than {MAX_DEPTH} levels deep", "Bundle")
    return decoded


def _too_deep(data: object) -> bool:
    stack: list[tuple[object, int]] = [(data, 1)]
    while stack:
        node, depth = stack.pop()
        children = (
            node.values()
            if isinstance(node, dict)
            else node
            if isinstance(node, list)
            else ()
        )
        for child in children:
            if isinstance(child, dict | list):
                if depth + 1 > MAX_DEPTH:
                    return True
                stack.append((child, depth + 1))
    return False


def _validated_bundle(data: dict[str, Any]) -> Bundle:
    # fhir.resources raises KeyError, not a validation error, for a resourceType it does not know.
    unknown = [
        Issue(
            "structure",
            f"unknown FHIR resourceType {kind!r}"
            if kind
            else "resource without resourceType",
            f"Bundle.entry[{i}].resource",
        )
        for i, kind in _entry_resource_types(data)
        if not _is_resource_type(kind)
    ]
    if unknown:
        raise FhirRejection(unknown)
    try:
        return Bundle.model_validate(data)
    except ValidationError as error:
        raise FhirRejection([_structure_issue(e) for e in error.errors()]) from None
    except RecursionError:
        _reject("structure", "the Bundle nests too deeply to validate", "Bundle")
    except (
        KeyError
    ) as error:  # an unknown resourceType deeper down, e.g. among contained resources
        kind = (
            str(error.args[0]).removeprefix("R4.").removesuffix("Type")
            if error.args
            else "?"
        )
        _reject("structure", f"unknown FHIR resourceType {kind!r}", "Bundle")
    except (TypeError, AttributeError, ValueError) as error:
        # fhir_core's own validators (uri, url) fail this way, with no location, on a value of the wrong JSON type.
        _reject(
            "structure",
            f"the Bundle is not valid FHIR R4: a value has the wrong JSON type ({error})",
            "Bundle",
        )


def _entry_resource_types(data: dict[str, Any]) -> Iterator[tuple[int, object]]:
    entries = data.get("entry")
    if not isinstance(entries, list):
        return
    for index, entry in enumerate(entries):
        if isinstance(entry, dict) and isinstance(entry.get("resource"), dict):
            yield index, entry["resource"].get("resourceType")


def _is_resource_type(kind: object) -> bool:
    if not isinstance(kind, str):
        return False
    try:
        return get_fhir_model_class(kind).has_resource_base()
    except ValueError:
        return False


def _structure_issue(error: Mapping[str, Any]) -> Issue:
    message = str(error["msg"]).removeprefix("Value error, ")
    return Issue(
        "structure", f"{message} ({error['type']})", fhir_path("Bundle", error["loc"])
    )


def fhir_path(root: str, loc: Sequence[str | int]) -> str:
    """A pydantic error location as FHIRPath: ``("entry", 2, "resource", "gender")`` -> ``Bundle.entry[2].resource.gender``."""
    path = root
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    return path


def _header(bundle: Bundle) -> Located[MessageHeader]:
    entries = bundle.entry or []
    first = entries[0].resource if entries else None
    if not isinstance(first, MessageHeader):
        found = type(first).__name__ if first is not None else "nothing"
        _reject(
            "structure",
            f"the first entry of a message Bundle must be a MessageHeader, found {found}",
            "Bundle.entry[0]",
        )
    header = Located(first, "Bundle.entry[0].resource")
    event = first.eventCoding
    if (
        event is None
        or not same_system(event.system, BARS_MESSAGE_EVENTS)
        or event.code != SERVICEREQUEST_REQUEST
    ):
        given = f"{event.system}|{event.code}" if event else first.eventUri
        _reject(
            "not-supported",
            f"MessageHeader event {given!r} is not supported; intake accepts {BARS_MESSAGE_EVENTS}|{SERVICEREQUEST_REQUEST}",
            f"{header.path}.eventCoding",
        )
    return header


def _check_references(data: dict[str, Any]) -> None:
    """Every ``urn:uuid``/``urn:oid`` reference must name an entry: such ids mean nothing outside this Bundle."""
    raw_entries = data.get("entry") or []
    full_urls = [e.get("fullUrl") for e in raw_entries if isinstance(e, dict)]
    issues = [
        Issue(
            "structure",
            f"fullUrl {url!r} is used by more than one entry",
            f"Bundle.entry[{i}].fullUrl",
        )
        for i, url in enumerate(full_urls)
        if url and full_urls.index(url) != i
    ]
    known = {url for url in full_urls if url}
    for index, entry in enumerate(raw_entries):
        if not isinstance(entry, dict):
            continue
        for path, target in _references(
            entry.get("resource"), f"Bundle.entry[{index}].resource"
        ):
            if target.startswith(_LOCAL_REFERENCE_PREFIXES) and target not in known:
                issues.append(
                    Issue(
                        "invalid",
                        f"reference {target!r} does not resolve to any entry in this Bundle",
                        path,
                    )
                )
    if issues:
        raise FhirRejection(issues)


def _references(node: object, path: str) -> Iterator[tuple[str, str]]:
    """Every ``{"reference": ...}`` under ``node``, with its FHIRPath."""
    stack = [(node, path)]
    while stack:
        current, at = stack.pop()
        if isinstance(current, dict):
            target = current.get("reference")
            if isinstance(target, str):
                yield at, target
            stack.extend((value, f"{at}.{key}") for key, value in current.items())
        elif isinstance(current, list):
            stack.extend((item, f"{at}[{index}]") for index, item in enumerate(current))


def _focus(header: Located[MessageHeader], entries: Entries) -> Located[ServiceRequest]:
    focus = header.resource.focus or []
    at = f"{header.path}.focus"
    if not focus:
        _reject("required", "MessageHeader.focus must reference the ServiceRequest", at)
    if len(focus) > 1:
        _reject(
            "not-supported",
            "MessageHeader.focus must reference exactly one ServiceRequest",
            at,
        )
    target = entries.resolve(focus[0])
    if target is None or not isinstance(target.resource, ServiceRequest):
        raise FhirRejection([reference_issue(focus[0], f"{at}[0]", "ServiceRequest")])
    return Located(target.resource, target.path)


def _subject(
    service_request: Located[ServiceRequest], entries: Entries
) -> Located[Patient]:
    subject = service_request.resource.subject
    at = f"{service_request.path}.subject"
    target = entries.resolve(subject)
    if target is None or not isinstance(target.resource, Patient):
        raise FhirRejection([reference_issue(subject, at, "Patient")])
    return Located(target.resource, target.path)


def _reject(
    code: IssueCode, diagnostics: str, expression: str | None = None
) -> NoReturn:
    raise FhirRejection([Issue(code, diagnostics, expression)])
