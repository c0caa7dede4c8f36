"""What the referral is for: needs, red flags and the patient's consent, from a BaRS message.

Needs come from ServiceRequest.reasonCode, where every concept must name a
need (a reason Signpost cannot route is refused, not dropped), and from
category codings in need code systems (BaRS puts workflow codes there too,
which are not needs). Flags BaRS defines but Signpost has no red flag for
(reasonable adjustment, infection risk, ...) are left in the Bundle.
"""

from fhir.resources.R4B.codeableconcept import CodeableConcept
from fhir.resources.R4B.consent import Consent
from fhir.resources.R4B.flag import Flag

from schemas.vocabulary import Need, RedFlag
from services.intake.domain.fhir.codes import (
    BARS_FLAG_CATEGORIES,
    BARS_FLAG_RED_FLAGS,
    DIRECT_CARE_CATEGORY,
    DIRECT_CARE_SCOPE,
    SIGNPOST_NEED,
    SIGNPOST_RED_FLAG,
    SNOMED,
    SNOMED_NEEDS,
    same_system,
)
from services.intake.domain.fhir.context import Loc, MappingContext, codings
from services.intake.domain.fhir.message import Located
from services.intake.domain.fhir.outcome import Issue

_NEED_CODES = frozenset(n.value for n in Need)
_RED_FLAG_CODES = frozenset(f.value for f in RedFlag)


def needs(ctx: MappingContext) -> list[str] | None:
    """Needs from reasonCode (each must map) and from category (only codings in need code systems count)."""
    request = ctx.message.service_request
    found: list[str] = []
    ok = True
    concepts = [
        ("reasonCode", i, c, True)
        for i, c in enumerate(request.resource.reasonCode or [])
    ]
    concepts += [
        ("category", i, c, False) for i, c in enumerate(request.resource.category or [])
    ]
    for element, index, concept, must_map in concepts:
        at = f"{request.path}.{element}[{index}]"
        issues_before = len(ctx.issues)
        need = _need_of(ctx, concept, at, must_map)
        ok = ok and len(ctx.issues) == issues_before
        if need is not None and need not in found:
            ctx.came_from(("needs", len(found)), at)
            found.append(need)
    ctx.came_from(("needs",), f"{request.path}.reasonCode")
    if not ok:
        ctx.failed.add(("needs",))
        return None
    if not found:
        ctx.fail(
            Issue(
                "required",
                f"ServiceRequest.reasonCode must say what the patient needs ({SIGNPOST_NEED} or SNOMED CT)",
                f"{request.path}.reasonCode",
            ),
            ("needs",),
        )
        return None
    return found


def _need_of(
    ctx: MappingContext, concept: CodeableConcept, at: str, must_map: bool
) -> str | None:
    """The need a concept names, if it names exactly one; otherwise None, with an issue when that is wrong."""
    found: set[str] = set()
    for coding in concept.coding or []:
        if same_system(coding.system, SIGNPOST_NEED):
            if coding.code not in _NEED_CODES:
                ctx.issues.append(
                    Issue(
                        "value",
                        f"unknown need code {coding.code!r} in {SIGNPOST_NEED}",
                        at,
                    )
                )
                return None
            found.add(str(coding.code))
        elif (
            same_system(coding.system, SNOMED)
            and (pathway := SNOMED_NEEDS.get(coding.code or "")) is not None
        ):
            found.add(pathway.value)
    if len(found) > 1:
        ctx.issues.append(
            Issue(
                "value",
                f"the codings name different needs ({', '.join(sorted(found))})",
                at,
            )
        )
        return None
    if found:
        return found.pop()
    if must_map:
        given = ", ".join(f"{c.system}|{c.code}" for c in concept.coding or []) or repr(
            concept.text
        )
        ctx.issues.append(
            Issue(
                "not-supported",
                f"reasonCode names no need Signpost can route (given: {given}); use a Pharmacy First SNOMED CT "
                f"pathway concept or a code from {SIGNPOST_NEED}",
                at,
            )
        )
    return None


def red_flags(ctx: MappingContext) -> list[str] | None:
    """Active Flags about the patient: Signpost red-flag codes, and the BaRS safeguarding category."""
    flags: list[str] = []
    ok = True
    for flag in ctx.message.entries.of_type(Flag):
        if flag.resource.status != "active":
            continue
        subject = ctx.message.entries.resolve(flag.resource.subject)
        if subject is None or subject.path != ctx.message.patient.path:
            ctx.issues.append(
                Issue(
                    "invalid",
                    "Flag.subject must be the referred Patient",
                    f"{flag.path}.subject",
                )
            )
            ok = False
            continue
        for code in _flag_codes(ctx, flag):
            if code is None:
                ok = False
            elif code not in flags:
                ctx.came_from(("red_flags", len(flags)), f"{flag.path}.code")
                flags.append(code)
    if not ok:
        ctx.failed.add(("red_flags",))
        return None
    return flags


def _flag_codes(ctx: MappingContext, flag: Located[Flag]) -> list[str | None]:
    codes: list[str | None] = []
    for coding in codings(flag.resource.code):
        if same_system(coding.system, SIGNPOST_RED_FLAG):
            if coding.code in _RED_FLAG_CODES:
                codes.append(str(coding.code))
            else:
                ctx.issues.append(
                    Issue(
                        "value",
                        f"unknown red flag code {coding.code!r} in {SIGNPOST_RED_FLAG}",
                        f"{flag.path}.code",
                    )
                )
                codes.append(None)
    for coding in codings(flag.resource.category):
        red_flag = (
            BARS_FLAG_RED_FLAGS.get(coding.code or "")
            if same_system(coding.system, BARS_FLAG_CATEGORIES)
            else None
        )
        if red_flag is not None:
            codes.append(red_flag.value)
    return codes


def consent(ctx: MappingContext) -> bool:
    """Consent for direct care: an active Consent about the patient, BaRS category DRC or scope treatment.

    Looked for first among ServiceRequest.supportingInfo, then anywhere in the Bundle.
    """
    request = ctx.message.service_request
    entries = ctx.message.entries
    supporting = [entries.resolve(r) for r in request.resource.supportingInfo or []]
    candidates = [
        Located(s.resource, s.path)
        for s in supporting
        if s is not None and isinstance(s.resource, Consent)
    ]
    candidates += [
        c
        for c in entries.of_type(Consent)
        if c.path not in {s.path for s in candidates}
    ]
    loc: Loc = ("consent_direct_care",)
    for consent in candidates:
        ctx.came_from(loc, consent.path)
        problem = _direct_care_problem(ctx, consent.resource)
        if problem is None:
            return True
        ctx.hints[loc] = f"the Consent at {consent.path} {problem}"
    if not candidates:
        ctx.came_from(loc, "Bundle.entry")
        ctx.hints[loc] = (
            "the Bundle has no Consent resource; BaRS referrals carry an active Consent for direct care"
        )
    return False


def _direct_care_problem(ctx: MappingContext, consent: Consent) -> str | None:
    if consent.status != "active":
        return f"has status {consent.status!r}, not 'active'"
    if consent.patient is not None:
        about = ctx.message.entries.resolve(consent.patient)
        if about is None or about.path != ctx.message.patient.path:
            return "is not about the referred Patient"
    if consent.provision is not None and consent.provision.type == "deny":
        return "denies rather than permits"
    codes = {
        (c.system, c.code) for c in codings(consent.category) + codings(consent.scope)
    }
    if not any(
        same_system(system, want[0]) and code == want[1]
        for system, code in codes
        for want in (DIRECT_CARE_CATEGORY, DIRECT_CARE_SCOPE)
    ):
        return "is not for direct care (category consent-categories-bars#DRC or scope consentscope#treatment)"
    return None
