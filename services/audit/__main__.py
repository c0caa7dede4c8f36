from services.audit.app import SERVICE, app
from signpost.service import run

run(SERVICE, app)
