"""BaRS over FHIR: referral messages in (``messages``), the referrer's reads (``reads``), FHIR-shaped refusals."""
