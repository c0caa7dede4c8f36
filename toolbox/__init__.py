"""The operator's toolbox: the command line, the local stack, demos, tokens and topic readers.

It may import everything (services, deploy); signpost/, the runtime library the services share, imports none of it.
"""
