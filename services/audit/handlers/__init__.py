"""Kafka in: audit follows one consumer group, ``signpost-audit``, over every Signpost topic (``recorder``)."""
