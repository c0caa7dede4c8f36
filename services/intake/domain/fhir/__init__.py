"""BaRS (FHIR R4 messaging) referrals in, Signpost Referrals out; OperationOutcome back.

A GP system sends a BaRS ``servicerequest-request`` message Bundle.
``parse_bundle`` checks the envelope, ``to_referral`` maps it onto the same
``schemas.referral.Referral`` the JSON API takes, and both refuse with a
``FhirRejection`` listing every issue, which ``operation_outcome`` renders.
All of it is pure: no I/O, so the HTTP edge decides what to store and say.

Where each Referral field comes from:

=========================  ==========================================================================
Referral                   BaRS message
=========================  ==========================================================================
referrer.ods_code          requester PractitionerRole.organization ODS identifier, else MessageHeader.sender
referrer.practitioner      the requester's Practitioner.name (text, else given + family)
referrer.role              PractitionerRole.code (``codes.SNOMED_REFERRER_ROLES`` or Signpost referrer-role)
patient.nhs_number         Patient.identifier with system https://fhir.nhs.uk/Id/nhs-number
patient.nhs_number_traced  false when that identifier's UK Core NHSNumberVerificationStatus is not 01
patient.local_id           the first other Patient.identifier, only when there is no traced NHS number
patient names              official (else usual, else first current) HumanName: given joined, family
patient.birth_date / sex   Patient.birthDate (full date) / Patient.gender
patient.postcode           postalCode of the home address, else of the first current address
patient.address            only without any postalCode: the first current address's lines, city, district
patient.gp_practice_ods    Patient.generalPractitioner -> Organization (or logical reference) ODS code
patient.contacts           Patient.telecom phones and emails (else the ONESELF contact's telecom), by rank
needs                      ServiceRequest.reasonCode (each must map) and category codings in need systems
red_flags                  active Flags on the patient: Signpost red-flag codes; BaRS category SG = safeguarding
urgency                    ServiceRequest.priority routine|urgent|asap (absent = routine; stat refused)
chosen_pharmacy_ods        the single ServiceRequest.performer -> Organization or HealthcareService.providedBy
consent_direct_care        an active Consent for the patient: BaRS category DRC or scope treatment, not deny
notes                      ServiceRequest.note texts, blank-line separated
=========================  ==========================================================================

Need codes: ``https://signpost.nhs.example/CodeSystem/need`` carries every
``schemas.vocabulary.Need`` value as its code; SNOMED CT maps the seven
Pharmacy First clinical pathway conditions (``codes.SNOMED_NEEDS``).
Encounter, CarePlan, Questionnaire(Response) and other entries are kept in
the Bundle but not mapped.
"""

from services.intake.domain.fhir.mapping import to_referral
from services.intake.domain.fhir.message import BarsMessage, Located, parse_bundle
from services.intake.domain.fhir.outcome import (
    FhirRejection,
    Issue,
    IssueCode,
    accepted_outcome,
    operation_outcome,
)

__all__ = [
    "BarsMessage",
    "FhirRejection",
    "Issue",
    "IssueCode",
    "Located",
    "accepted_outcome",
    "operation_outcome",
    "parse_bundle",
    "to_referral",
]
