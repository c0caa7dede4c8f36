"""Clinical risk management (DCB0129): the hazard log, its risk matrix and its rendering."""
