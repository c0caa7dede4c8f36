"""The operations page's static files (HTML, script, stylesheet, icon), served by ``services/audit/api/page.py``."""
