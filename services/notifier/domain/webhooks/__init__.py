"""The webhook wing's pure rules: who a webhook is for, where it may point, how it is signed, when to try again.

The sender (``loops/webhooks.py``), the routes (``api/webhooks.py``) and the rows (``store/webhooks.py``) apply them.
"""
