"""Coded vocabularies shared by every service and by agencies.

Values are stable wire codes: add new members, never rename or remove one
without a new contract version.
"""

from enum import StrEnum


class Need(StrEnum):
    """What the patient needs help with; drives routing."""

    # Pharmacy First clinical pathways (GP -> community pharmacy, BaRS A5T1).
    UTI = "uti"
    IMPETIGO = "impetigo"
    INFECTED_INSECT_BITE = "infected_insect_bite"
    SHINGLES = "shingles"
    SINUSITIS = "sinusitis"
    SORE_THROAT = "sore_throat"
    ACUTE_OTITIS_MEDIA = "acute_otitis_media"
    MINOR_ILLNESS = "minor_illness"
    URGENT_MEDICINES_SUPPLY = "urgent_medicines_supply"
    # Integrated community network needs.
    MEDICINES_OPTIMISATION = "medicines_optimisation"
    SOCIAL_CARE_ASSESSMENT = "social_care_assessment"
    HOME_HEATING = "home_heating"
    HOME_HOUSING = "home_housing"
    HOME_STAIRS = "home_stairs"
    LONELINESS = "loneliness"
    PERSONAL_GOALS = "personal_goals"
    FALLS = "falls"
    MOBILITY = "mobility"
    COMMUNITY_NURSING = "community_nursing"
    MENTAL_HEALTH = "mental_health"


PHARMACY_FIRST_NEEDS = frozenset(
    {
        Need.UTI,
        Need.IMPETIGO,
        Need.INFECTED_INSECT_BITE,
        Need.SHINGLES,
        Need.SINUSITIS,
        Need.SORE_THROAT,
        Need.ACUTE_OTITIS_MEDIA,
        Need.MINOR_ILLNESS,
        Need.URGENT_MEDICINES_SUPPLY,
    }
)


class RedFlag(StrEnum):
    """Warning signs a professional noticed; medicines flags route to the ICN pharmacist."""

    MEDICINES_STOCKPILE = "medicines_stockpile"
    EXPIRED_MEDICINES = "expired_medicines"
    MULTIPLE_DISPENSING_DATES = "multiple_dispensing_dates"
    MEDICINES_RUNNING_OUT_UNEVENLY = "medicines_running_out_unevenly"
    SAFEGUARDING = "safeguarding"


MEDICINES_RED_FLAGS = frozenset(
    {
        RedFlag.MEDICINES_STOCKPILE,
        RedFlag.EXPIRED_MEDICINES,
        RedFlag.MULTIPLE_DISPENSING_DATES,
        RedFlag.MEDICINES_RUNNING_OUT_UNEVENLY,
    }
)


class Urgency(StrEnum):
    """FHIR request priority codes, as BaRS uses them."""

    ROUTINE = "routine"
    URGENT = "urgent"
    ASAP = "asap"


class Sex(StrEnum):
    """FHIR administrative gender."""

    FEMALE = "female"
    MALE = "male"
    OTHER = "other"
    UNKNOWN = "unknown"


class ServiceType(StrEnum):
    """Kinds of service in the directory (Open Referral UK service taxonomy, local codes)."""

    ICN_PHARMACIST = "icn_pharmacist"
    PIC = "pic"
    SOCIAL_SERVICES = "social_services"
    COMMUNITY_NURSING = "community_nursing"
    OCCUPATIONAL_THERAPY = "occupational_therapy"
    PHYSIOTHERAPY = "physiotherapy"
    MENTAL_HEALTH = "mental_health"
    COMMUNITY_PHARMACY = "community_pharmacy"
    MDT_HUDDLE = "mdt_huddle"
    CARE_COORDINATOR = "care_coordinator"


class ReferrerRole(StrEnum):
    """The professional role of whoever makes the referral."""

    GP = "gp"
    GP_RECEPTIONIST = "gp_receptionist"
    PHARMACIST = "pharmacist"
    SOCIAL_WORKER = "social_worker"
    COMMUNITY_NURSE = "community_nurse"
    PIC = "pic"
    OCCUPATIONAL_THERAPIST = "occupational_therapist"
    PHYSIOTHERAPIST = "physiotherapist"
    HOSPITAL_CLINICIAN = "hospital_clinician"
    CARE_COORDINATOR = "care_coordinator"


class OutcomeCode(StrEnum):
    """What an agency reports about an assignment; the referrer hears each one."""

    ACCEPTED = "accepted"
    DECLINED = "declined"
    PATIENT_CONTACTED = "patient_contacted"
    COMPLETED = "completed"
    DID_NOT_ATTEND = "did_not_attend"
    ESCALATED_TO_GP = "escalated_to_gp"


class DeclineReason(StrEnum):
    """Why an agency declined; BaRS rejection reasons (RRNA, OTH) plus the patient's own choice."""

    NOT_AVAILABLE_IN_TIMESCALE = "not_available_in_timescale"
    NOT_APPROPRIATE = "not_appropriate"
    PATIENT_DECLINED = "patient_declined"
    OTHER = "other"


class CompletionOutcome(StrEnum):
    """How a completed assignment ended: the coded outcomes Pharmacy First reports to the GP."""

    ADVICE_GIVEN = "advice_given"
    MEDICINE_SUPPLIED = "medicine_supplied"
    ONWARD_REFERRAL_OR_SIGNPOSTING = "onward_referral_or_signposting"
    URGENT_ESCALATION = "urgent_escalation"
