"""Every SQL statement intake runs, one module per thing it keeps; none anywhere else in the service (bar migrations)."""
