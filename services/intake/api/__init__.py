"""Intake's HTTP routes, one module per resource; the FHIR wing's under ``api.fhir``."""
