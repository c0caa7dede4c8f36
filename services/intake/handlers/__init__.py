"""What intake hears on Kafka, one module per consumer group: each parses its records and keeps intake's tables."""
