"""Every SQL statement of the router, in modules named by what they keep (migrations apart)."""
