"""From a BaRS referral message to Signpost's Referral.

Each Referral field has one FHIR home (see ``services.intake.domain.fhir``). What
cannot be mapped, and what the Referral model then refuses, come back
together as one FhirRejection whose issues point at the FHIR elements.
"""

from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from schemas.referral import Referral
from services.intake.domain.fhir.clinical import consent, needs, red_flags
from services.intake.domain.fhir.codes import NEW, PRIORITY_URGENCY
from services.intake.domain.fhir.context import Loc, MappingContext
from services.intake.domain.fhir.message import BarsMessage
from services.intake.domain.fhir.outcome import FhirRejection, Issue, IssueCode
from services.intake.domain.fhir.people import patient, referrer

_REQUIRED_ERRORS = frozenset(
    {
        "missing",
        "too_short",
        "patient_demographics_required",
        "patient_address_required",
    }
)
# Patient-wide refusals that only repeat what a Patient element already failed for.
_PATIENT_SUMMARIES = frozenset(
    {"patient_demographics_required", "patient_address_required"}
)
_BUSINESS_RULE_ERRORS = frozenset({"consent_required", "pharmacy_first_ineligible"})


def to_referral(message: BarsMessage) -> Referral:
    """The Referral a BaRS referral request asks for, or FhirRejection with every problem found."""
    ctx = MappingContext(message)
    request = message.service_request
    ctx.came_from((), request.path)
    _check_is_new_referral(ctx)
    fields = {
        "referrer": referrer(ctx),
        "patient": patient(ctx),
        "needs": needs(ctx),
        "red_flags": red_flags(ctx),
        "urgency": _urgency(ctx),
        "chosen_pharmacy_ods": _chosen_pharmacy(ctx),
        "consent_direct_care": consent(ctx),
        "notes": _notes(ctx),
    }
    try:
        referral = Referral.model_validate(
            {k: v for k, v in fields.items() if v is not None}
        )
    except ValidationError as error:
        errors = [
            e
            for e in error.errors()
            if not ctx.already_failed(tuple(e["loc"])) and not _repeats(ctx, e)
        ]
        ctx.issues.extend(
            _referral_issue(ctx, e) for e in errors if not _has_more_specific(e, errors)
        )
    else:
        if not ctx.issues:
            return referral
    raise FhirRejection(ctx.issues)


def _check_is_new_referral(ctx: MappingContext) -> None:
    header, request = ctx.message.header, ctx.message.service_request
    reason = ctx.message.reason
    if reason is None:
        ctx.fail(
            Issue(
                "required",
                "MessageHeader.reason must say 'new' for a new referral",
                f"{header.path}.reason",
            )
        )
    elif reason != NEW:
        ctx.fail(
            Issue(
                "not-supported",
                f"MessageHeader.reason {reason!r} is not supported here: send a new referral, or revoke one to cancel it",
                f"{header.path}.reason",
            )
        )
    if request.resource.status != "active":
        ctx.fail(
            Issue(
                "business-rule",
                f"a new referral's ServiceRequest.status must be 'active', not {request.resource.status!r}",
                f"{request.path}.status",
            )
        )


def _urgency(ctx: MappingContext) -> str | None:
    request = ctx.message.service_request
    at = f"{request.path}.priority"
    ctx.came_from(("urgency",), at)
    priority = request.resource.priority
    if priority is None:
        return None  # FHIR: no priority is normal priority, which the Referral defaults to.
    urgency = PRIORITY_URGENCY.get(priority)
    if urgency is None:
        ctx.fail(
            Issue(
                "not-supported",
                f"ServiceRequest.priority {priority!r} is not supported; use routine, urgent or asap",
                at,
            ),
            ("urgency",),
        )
        return None
    return urgency.value


def _chosen_pharmacy(ctx: MappingContext) -> str | None:
    request = ctx.message.service_request
    performers = request.resource.performer or []
    at = f"{request.path}.performer"
    if not performers:
        return None
    if len(performers) > 1:
        ctx.fail(
            Issue(
                "not-supported",
                "ServiceRequest.performer may name only the one place the patient chose",
                at,
            ),
            ("chosen_pharmacy_ods",),
        )
        return None
    found = ctx.ods_code(performers[0], f"{at}[0]")
    if found is None:
        ctx.fail(
            Issue(
                "invalid",
                "ServiceRequest.performer must lead to an Organization (directly or via HealthcareService.providedBy) "
                "with an https://fhir.nhs.uk/Id/ods-organization-code identifier",
                f"{at}[0]",
            ),
            ("chosen_pharmacy_ods",),
        )
        return None
    ctx.came_from(("chosen_pharmacy_ods",), found.path)
    return found.value


def _notes(ctx: MappingContext) -> str | None:
    request = ctx.message.service_request
    ctx.came_from(("notes",), f"{request.path}.note")
    texts = [note.text for note in request.resource.note or [] if note.text]
    return "\n\n".join(texts) or None


def _repeats(ctx: MappingContext, error: Mapping[str, Any]) -> bool:
    return error["type"] in _PATIENT_SUMMARIES and any(
        loc[:1] == ("patient",) for loc in ctx.failed
    )


def _has_more_specific(error: Mapping[str, Any], errors: list[Any]) -> bool:
    """A tuple holding a bad item is also reported as too short; the bad item says it better."""
    loc = tuple(error["loc"])
    return any(
        len(e["loc"]) > len(loc) and tuple(e["loc"][: len(loc)]) == loc for e in errors
    )


def _referral_issue(ctx: MappingContext, error: Mapping[str, Any]) -> Issue:
    loc: Loc = tuple(error["loc"])
    message = str(error["msg"]).removeprefix("Value error, ")
    label = ".".join(str(part) for part in loc)
    diagnostics = f"{label}: {message}" if label else message
    hint = ctx.hints.get(loc)
    if hint:
        diagnostics += f" ({hint})"
    return Issue(_issue_code(str(error["type"])), diagnostics, ctx.source_of(loc))


def _issue_code(error_type: str) -> IssueCode:
    if error_type in _REQUIRED_ERRORS:
        return "required"
    if error_type in _BUSINESS_RULE_ERRORS:
        return "business-rule"
    return "value"
