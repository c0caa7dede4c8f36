"""Signpost's public contract: referral content and the events on Kafka.

Agencies that do not write Python use the generated JSON Schema and AsyncAPI
documents beside this package; the pydantic models here are their source.
"""
