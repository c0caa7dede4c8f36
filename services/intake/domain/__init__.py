"""Intake's pure rules: no I/O, no SQL, no web or Kafka framework, so each can be replayed and tested alone."""
