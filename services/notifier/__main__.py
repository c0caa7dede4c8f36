from services.notifier.app import SERVICE, app
from signpost.service import run

run(SERVICE, app)
