"""Every SQL statement of the audit service, by what it keeps: the log's rows, its chains, the stream's order."""
