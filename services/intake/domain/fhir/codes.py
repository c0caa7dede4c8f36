"""The code systems a BaRS referral speaks, and how their codes map onto Signpost's vocabulary.

BaRS senders code clinical content in SNOMED CT; Signpost also publishes
its own CodeSystems (``https://signpost.nhs.example/CodeSystem/...``) whose
codes are exactly the wire values in ``schemas.vocabulary``, so any need,
role or red flag can be sent even where no SNOMED concept fits. SNOMED CT
rows are only the concepts NHS Pharmacy First itself records for each
clinical pathway, and well-known occupation concepts; anything else is
refused rather than guessed at.
"""

from collections.abc import Mapping

from schemas.vocabulary import Need, RedFlag, ReferrerRole, Urgency

SNOMED = "http://snomed.info/sct"
NHS_NUMBER = "https://fhir.nhs.uk/Id/nhs-number"
# UK Core: how far the NHS number was traced on the Personal Demographics Service; only 01 is traced.
NHS_NUMBER_VERIFICATION_STATUS = "https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-NHSNumberVerificationStatus"
NHS_NUMBER_VERIFIED = "01"
ODS_ORGANISATION = "https://fhir.nhs.uk/Id/ods-organization-code"
BARS_MESSAGE_EVENTS = "https://fhir.nhs.uk/CodeSystem/message-events-bars"
BARS_MESSAGE_REASON = "https://fhir.nhs.uk/CodeSystem/message-reason-bars"
BARS_FLAG_CATEGORIES = "https://fhir.nhs.uk/CodeSystem/flag-categories-bars"
BARS_CONSENT_CATEGORIES = "https://fhir.nhs.uk/CodeSystem/consent-categories-bars"
CONSENT_SCOPE = "http://terminology.hl7.org/CodeSystem/consentscope"
HTTP_ERROR_CODES = "https://fhir.nhs.uk/CodeSystem/http-error-codes"

SIGNPOST_NEED = "https://signpost.nhs.example/CodeSystem/need"
SIGNPOST_REFERRER_ROLE = "https://signpost.nhs.example/CodeSystem/referrer-role"
SIGNPOST_RED_FLAG = "https://signpost.nhs.example/CodeSystem/red-flag"
SIGNPOST_OUTCOME = "https://signpost.nhs.example/CodeSystem/intake-outcome"

SERVICEREQUEST_REQUEST = "servicerequest-request"
NEW = "new"

# Pharmacy First clinical pathway conditions, as the service records them (the
# pathway codelists NHS England publishes and OpenSAFELY's Pharmacy First reports use).
SNOMED_NEEDS: Mapping[str, Need] = {
    "1090711000000102": Need.UTI,  # Uncomplicated urinary tract infection
    "48277006": Need.IMPETIGO,  # Impetigo
    "262550002": Need.INFECTED_INSECT_BITE,  # Infected insect bite
    "4740000": Need.SHINGLES,  # Herpes zoster
    "15805002": Need.SINUSITIS,  # Acute sinusitis
    "363746003": Need.SORE_THROAT,  # Acute pharyngitis (the acute sore throat pathway)
    "3110003": Need.ACUTE_OTITIS_MEDIA,  # Acute otitis media
}

# Occupation concepts for PractitionerRole.code. A GP practice's reception staff
# appear in BaRS examples as "Administrative healthcare staff".
SNOMED_REFERRER_ROLES: Mapping[str, ReferrerRole] = {
    "62247001": ReferrerRole.GP,  # General practitioner
    "224608005": ReferrerRole.GP_RECEPTIONIST,  # Administrative healthcare staff
    "46255001": ReferrerRole.PHARMACIST,  # Pharmacist
    "106328005": ReferrerRole.SOCIAL_WORKER,  # Social worker
    "80546007": ReferrerRole.OCCUPATIONAL_THERAPIST,  # Occupational therapist
    "36682004": ReferrerRole.PHYSIOTHERAPIST,  # Physiotherapist
}

# BaRS Flag categories that are Signpost red flags; the rest (scene safety,
# reasonable adjustment, infection risk, ...) have no red flag to become.
BARS_FLAG_RED_FLAGS: Mapping[str, RedFlag] = {"SG": RedFlag.SAFEGUARDING}

# A Consent counts as consent for direct care when it is active and either
# carries the BaRS "Direct Care" category or is scoped to treatment.
DIRECT_CARE_CATEGORY = (BARS_CONSENT_CATEGORIES, "DRC")
DIRECT_CARE_SCOPE = (CONSENT_SCOPE, "treatment")

# ServiceRequest.priority; "stat" has no Signpost urgency and is refused.
PRIORITY_URGENCY: Mapping[str, Urgency] = {u.value: u for u in Urgency}


def same_system(actual: str | None, expected: str) -> bool:
    """System URLs compared ignoring case: BaRS's own examples write ``/id/`` for ``/Id/``."""
    return actual is not None and actual.lower() == expected.lower()
