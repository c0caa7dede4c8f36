"""The notifier's HTTP routes, one module per resource: assignments (and their outcomes), dead letters, webhooks."""
