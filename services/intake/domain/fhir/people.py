"""Who is referring, and whom: the Referral's referrer and patient from a BaRS message.

The referrer is ServiceRequest.requester. UK Core senders point it at a
PractitionerRole (who, where, in what role); BaRS examples also point it at
the Practitioner and list the PractitionerRole beside it, so both are read.
The referring organisation is the role's organisation, else the message's
sender.
"""

from datetime import date
from typing import Any

from fhir.resources.R4B.address import Address
from fhir.resources.R4B.contactpoint import ContactPoint
from fhir.resources.R4B.humanname import HumanName
from fhir.resources.R4B.identifier import Identifier
from fhir.resources.R4B.patient import Patient
from fhir.resources.R4B.practitioner import Practitioner
from fhir.resources.R4B.practitionerrole import PractitionerRole

from schemas.vocabulary import ReferrerRole
from services.intake.domain.fhir.codes import (
    NHS_NUMBER,
    NHS_NUMBER_VERIFICATION_STATUS,
    NHS_NUMBER_VERIFIED,
    SIGNPOST_REFERRER_ROLE,
    SNOMED,
    SNOMED_REFERRER_ROLES,
    same_system,
)
from services.intake.domain.fhir.context import Found, MappingContext, codings
from services.intake.domain.fhir.message import Located, reference_issue
from services.intake.domain.fhir.outcome import Issue

_CONTACT_SYSTEMS = ("phone", "email")
_SELF = "ONESELF"
_ROLE_CODES = frozenset(r.value for r in ReferrerRole)


def referrer(ctx: MappingContext) -> dict[str, Any] | None:
    request = ctx.message.service_request
    at = f"{request.path}.requester"
    target = ctx.message.entries.resolve(request.resource.requester)
    role: Located[PractitionerRole] | None = None
    practitioner: Located[Practitioner] | None = None
    if target is not None and isinstance(target.resource, PractitionerRole):
        role = Located(target.resource, target.path)
        practitioner = _practitioner_of(ctx, role)
    elif target is not None and isinstance(target.resource, Practitioner):
        practitioner = Located(target.resource, target.path)
        role = _role_of(ctx, practitioner)
    else:
        ctx.fail(
            reference_issue(
                request.resource.requester, at, "PractitionerRole or Practitioner"
            ),
            ("referrer",),
        )
        return None
    ctx.came_from(("referrer",), target.path)
    return _present(
        {
            "ods_code": _referring_ods(ctx, role),
            "practitioner": _practitioner_name(ctx, practitioner, role),
            "role": _role(ctx, role),
        }
    )


def _practitioner_of(
    ctx: MappingContext, role: Located[PractitionerRole]
) -> Located[Practitioner] | None:
    target = ctx.message.entries.resolve(role.resource.practitioner)
    if target is not None and isinstance(target.resource, Practitioner):
        return Located(target.resource, target.path)
    return None


def _role_of(
    ctx: MappingContext, practitioner: Located[Practitioner]
) -> Located[PractitionerRole] | None:
    for role in ctx.message.entries.of_type(PractitionerRole):
        target = ctx.message.entries.resolve(role.resource.practitioner)
        if target is not None and target.path == practitioner.path:
            return role
    return None


def _referring_ods(
    ctx: MappingContext, role: Located[PractitionerRole] | None
) -> str | None:
    found = None
    if role is not None:
        found = ctx.ods_code(role.resource.organization, f"{role.path}.organization")
    if found is None:
        header = ctx.message.header
        found = ctx.ods_code(header.resource.sender, f"{header.path}.sender")
    if found is None:
        ctx.fail(
            Issue(
                "required",
                "the referring organisation needs an ODS code: PractitionerRole.organization or MessageHeader.sender "
                "must lead to an Organization with an https://fhir.nhs.uk/Id/ods-organization-code identifier",
                f"{role.path}.organization"
                if role
                else f"{ctx.message.header.path}.sender",
            ),
            ("referrer", "ods_code"),
        )
        return None
    ctx.came_from(("referrer", "ods_code"), found.path)
    return found.value


def _practitioner_name(
    ctx: MappingContext,
    practitioner: Located[Practitioner] | None,
    role: Located[PractitionerRole] | None,
) -> str | None:
    if practitioner is not None:
        chosen = _preferred_name(practitioner.resource.name or [])
        if chosen is not None:
            index, name = chosen
            ctx.came_from(
                ("referrer", "practitioner"), f"{practitioner.path}.name[{index}]"
            )
            return (
                name.text
                or " ".join(part for part in [*(name.given or []), name.family] if part)
                or None
            )
    if (
        role is not None
        and role.resource.practitioner is not None
        and role.resource.practitioner.display
    ):
        ctx.came_from(("referrer", "practitioner"), f"{role.path}.practitioner.display")
        return role.resource.practitioner.display
    at = (
        practitioner.path
        if practitioner
        else f"{ctx.message.service_request.path}.requester"
    )
    ctx.fail(
        Issue(
            "required",
            "the referring practitioner must be named (Practitioner.name)",
            at,
        ),
        ("referrer", "practitioner"),
    )
    return None


def _role(ctx: MappingContext, role: Located[PractitionerRole] | None) -> str | None:
    if role is None:
        ctx.fail(
            Issue(
                "required",
                "the requester's PractitionerRole, with a code for the referrer's role, must be in the Bundle",
                f"{ctx.message.service_request.path}.requester",
            ),
            ("referrer", "role"),
        )
        return None
    at = f"{role.path}.code"
    ctx.came_from(("referrer", "role"), at)
    roles = {_referrer_role(c.system, c.code) for c in codings(role.resource.code)} - {
        None
    }
    if len(roles) == 1:
        return roles.pop()
    given = (
        ", ".join(f"{c.system}|{c.code}" for c in codings(role.resource.code)) or "none"
    )
    problem = (
        "codes for different roles"
        if roles
        else f"no code Signpost knows (given: {given})"
    )
    ctx.fail(
        Issue(
            "value" if roles else "not-supported",
            f"PractitionerRole.code has {problem}; use a SNOMED CT occupation listed by Signpost or {SIGNPOST_REFERRER_ROLE}",
            at,
        ),
        ("referrer", "role"),
    )
    return None


def _referrer_role(system: str | None, code: str | None) -> str | None:
    if code is None:
        return None
    if same_system(system, SNOMED):
        found = SNOMED_REFERRER_ROLES.get(code)
        return found.value if found else None
    if same_system(system, SIGNPOST_REFERRER_ROLE) and code in _ROLE_CODES:
        return code
    return None


def patient(ctx: MappingContext) -> dict[str, Any]:
    located = ctx.message.patient
    resource, at = located.resource, located.path
    ctx.came_from(("patient",), at)
    fields: dict[str, Any] = {"sex": resource.gender}
    ctx.came_from(("patient", "sex"), f"{at}.gender")
    if resource.gender is None:
        ctx.fail(
            Issue("required", "Patient.gender is required", f"{at}.gender"),
            ("patient", "sex"),
        )
    fields.update(_identifiers(ctx, located))
    fields.update(_names(ctx, located))
    fields["birth_date"] = _birth_date(ctx, located)
    fields.update(_where_living(ctx, located))
    fields["gp_practice_ods"] = _gp_practice(ctx, located)
    fields["contacts"] = _contacts(ctx, located)
    return _present(fields)


def _identifiers(ctx: MappingContext, located: Located[Patient]) -> dict[str, Any]:
    """The NHS number and whether it was traced; else the sender's own identifier; else nothing (demographics).

    BaRS senders include an NHS number only when traced (UK Core status 01) or "present but not traced" (02).
    An untraced one is carried for the receiver but never keys or links the patient, so the sender's own
    identifier is still looked for. No status is read as traced, as before BaRS asked for one.
    """
    identifiers = located.resource.identifier or []
    found: dict[str, Any] = {}
    for index, identifier in enumerate(identifiers):
        if same_system(identifier.system, NHS_NUMBER) and identifier.value is not None:
            ctx.came_from(
                ("patient", "nhs_number"), f"{located.path}.identifier[{index}].value"
            )
            found["nhs_number"] = identifier.value
            status = _verification_status(identifier)
            if status is not None and status != NHS_NUMBER_VERIFIED:
                ctx.came_from(
                    ("patient", "nhs_number_traced"),
                    f"{located.path}.identifier[{index}].extension",
                )
                found["nhs_number_traced"] = False
            break
    if found.get("nhs_number_traced", True) and "nhs_number" in found:
        return found
    # No traced NHS number: BaRS receivers must still take the referral, on the sender's own identifier if any.
    for index, identifier in enumerate(identifiers):
        if identifier.value and not same_system(identifier.system, NHS_NUMBER):
            ctx.came_from(
                ("patient", "local_id"), f"{located.path}.identifier[{index}].value"
            )
            return {**found, "local_id": identifier.value}
    return found


def _verification_status(identifier: Identifier) -> str | None:
    for extension in identifier.extension or []:
        if extension.url == NHS_NUMBER_VERIFICATION_STATUS:
            for coding in codings(extension.valueCodeableConcept):
                if coding.code:
                    return coding.code
    return None


def _names(ctx: MappingContext, located: Located[Patient]) -> dict[str, str]:
    chosen = _preferred_name(located.resource.name or [])
    at = f"{located.path}.name"
    if chosen is None:
        ctx.fail(
            Issue("required", "Patient.name is required", at),
            ("patient", "given_name"),
            ("patient", "family_name"),
        )
        return {}
    index, name = chosen
    at = f"{at}[{index}]"
    ctx.came_from(("patient", "given_name"), f"{at}.given")
    ctx.came_from(("patient", "family_name"), f"{at}.family")
    found: dict[str, str] = {}
    given = [part for part in name.given or [] if part]
    if given:
        found["given_name"] = " ".join(given)
    else:
        ctx.fail(
            Issue("required", "Patient.name.given is required", f"{at}.given"),
            ("patient", "given_name"),
        )
    if name.family:
        found["family_name"] = name.family
    else:
        ctx.fail(
            Issue("required", "Patient.name.family is required", f"{at}.family"),
            ("patient", "family_name"),
        )
    return found


def _preferred_name(names: list[HumanName]) -> tuple[int, HumanName] | None:
    current = [(i, n) for i, n in enumerate(names) if n.use != "old"]
    for use in ("official", "usual"):
        for index, name in current:
            if name.use == use:
                return index, name
    return current[0] if current else None


def _birth_date(ctx: MappingContext, located: Located[Patient]) -> str | None:
    at = f"{located.path}.birthDate"
    ctx.came_from(("patient", "birth_date"), at)
    value: object = located.resource.birthDate
    if isinstance(value, date):
        return value.isoformat()
    if value is None:
        ctx.fail(
            Issue("required", "Patient.birthDate is required", at),
            ("patient", "birth_date"),
        )
    else:
        ctx.fail(
            Issue(
                "value",
                f"Patient.birthDate must be a full date (YYYY-MM-DD), not {value!r}",
                at,
            ),
            ("patient", "birth_date"),
        )
    return None


def _where_living(ctx: MappingContext, located: Located[Patient]) -> dict[str, str]:
    """The postcode of the home (else first current) address; without any postcode, that address on one line.

    The address lines travel only when there is no postcode: the postcode is what matching uses, and the
    rest of the address stays with the sender unless it is all there is.
    """
    current = [
        (i, a) for i, a in enumerate(located.resource.address or []) if a.use != "old"
    ]
    with_postcode = [(i, a) for i, a in current if a.postalCode]
    if with_postcode:
        index, address = (
            [(i, a) for i, a in with_postcode if a.use == "home"] or with_postcode
        )[0]
        ctx.came_from(
            ("patient", "postcode"), f"{located.path}.address[{index}].postalCode"
        )
        return {"postcode": str(address.postalCode)}
    written = [(i, _one_line(a)) for i, a in current if _one_line(a)]
    if written:
        index, text = written[0]
        ctx.came_from(("patient", "address"), f"{located.path}.address[{index}]")
        return {"address": text}
    at = f"{located.path}.address"
    ctx.fail(
        Issue(
            "required",
            "Patient.address must give the patient's postcode (postalCode) or its address lines",
            at,
        ),
        ("patient", "postcode"),
        ("patient", "address"),
    )
    return {}


def _one_line(address: Address) -> str:
    parts = [*(address.line or []), address.city, address.district]
    return (
        ", ".join(p.strip() for p in parts if p and p.strip())
        or (address.text or "").strip()
    )


def _gp_practice(ctx: MappingContext, located: Located[Patient]) -> str | None:
    for index, reference in enumerate(located.resource.generalPractitioner or []):
        found: Found | None = ctx.ods_code(
            reference, f"{located.path}.generalPractitioner[{index}]"
        )
        if found is not None:
            ctx.came_from(("patient", "gp_practice_ods"), found.path)
            return found.value
    ctx.fail(
        Issue(
            "required",
            "Patient.generalPractitioner must identify the patient's GP practice by ODS code",
            f"{located.path}.generalPractitioner",
        ),
        ("patient", "gp_practice_ods"),
    )
    return None


def _contacts(ctx: MappingContext, located: Located[Patient]) -> list[dict[str, Any]]:
    """Phones and emails with their ranks; unranked ones follow the ranked, phones first.

    BaRS examples put the patient's own numbers under a ``contact`` whose
    relationship is ONESELF; those count when Patient.telecom has none.
    """
    found = _usable(located.resource.telecom or [], f"{located.path}.telecom")
    for c_index, contact in enumerate(located.resource.contact or []):
        if not found and any(c.code == _SELF for c in codings(contact.relationship)):
            found = _usable(
                contact.telecom or [], f"{located.path}.contact[{c_index}].telecom"
            )
    if not found:
        at = f"{located.path}.telecom"
        ctx.fail(
            Issue(
                "required",
                "Patient.telecom must give a phone number for the patient",
                at,
            ),
            ("patient", "contacts"),
        )
        return []
    ctx.came_from(("patient", "contacts"), f"{located.path}.telecom")
    next_rank = max((p.rank or 0 for _, p in found), default=0) + 1
    unranked = sorted(
        (item for item in found if item[1].rank is None),
        key=lambda item: item[1].system != "phone",
    )
    ranks = {id(point): point.rank for _, point in found if point.rank is not None}
    for offset, (_, point) in enumerate(unranked):
        ranks[id(point)] = next_rank + offset
    contacts = []
    for index, (path, point) in enumerate(found):
        ctx.came_from(("patient", "contacts", index), path)
        contacts.append(
            {"system": point.system, "value": point.value, "rank": ranks[id(point)]}
        )
    return contacts


def _usable(points: list[ContactPoint], at: str) -> list[tuple[str, ContactPoint]]:
    return [
        (f"{at}[{i}]", p)
        for i, p in enumerate(points)
        if p.system in _CONTACT_SYSTEMS and p.value and p.use != "old"
    ]


def _present(fields: dict[str, Any]) -> dict[str, Any]:
    """Leave out what could not be mapped: its issue is already recorded, and the Referral should not report it again."""
    return {k: v for k, v in fields.items() if v is not None}
