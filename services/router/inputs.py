"""The directory and rule set the router decides with, reloaded when their files change.

Local teams change rules without a release: the router checks the files'
modification times before each batch and swaps in a new version only if it
validates; a broken edit is logged and the last good version stays in use.
"""

from pathlib import Path

from services.router.domain import directory as directory_module
from services.router.domain import rules as rules_module
from services.router.domain.directory import Directory
from services.router.domain.rules import RuleSet
from signpost import logs
from signpost.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
log = logs.get_logger()


def _resolve(path: str) -> Path:
    candidate = Path(path)
    return candidate if candidate.is_absolute() else ROOT / candidate


def _stamp(path: Path) -> float:
    files = sorted(path.glob("*.yaml")) if path.is_dir() else [path]
    return max(f.stat().st_mtime for f in files)


class RoutingInputs:
    def __init__(self, directory_path: str, rules_path: str) -> None:
        self.directory_path = _resolve(directory_path)
        self.rules_path = _resolve(rules_path)
        self.directory: Directory = directory_module.load(self.directory_path)
        self.rules: RuleSet = rules_module.load(self.rules_path)
        self._stamps = (_stamp(self.directory_path), _stamp(self.rules_path))

    def current(self) -> tuple[Directory, RuleSet]:
        stamps = (_stamp(self.directory_path), _stamp(self.rules_path))
        if stamps != self._stamps:
            self._stamps = stamps
            try:
                directory, rules = (
                    directory_module.load(self.directory_path),
                    rules_module.load(self.rules_path),
                )
            except Exception as exc:  # noqa: BLE001 - any bad edit must leave routing on the last good version
                log.error(
                    "routing inputs refused; keeping the previous version",
                    error=str(exc)[:500],
                )
            else:
                self.directory, self.rules = directory, rules
                log.info(
                    "routing inputs reloaded",
                    rule_set_version=rules.version,
                    directory_version=directory.content_version,
                )
        return self.directory, self.rules


def known_practices(settings: Settings) -> list[str]:
    """GP practices of the directory's networks: each hears back on its own feedback topic."""
    directory = RoutingInputs(settings.directory_path, settings.rules_path).directory
    return sorted({ods for network in directory.networks for ods in network.practices})


def known_agencies(settings: Settings) -> list[str]:
    """Agencies whose topics must exist before the router can assign to them: everyone in the directory."""
    return RoutingInputs(
        settings.directory_path, settings.rules_path
    ).directory.agency_ids()
