"""The routing decision: pure, deterministic, explained.

Same referral, directory, rules and time in, same decision out; nothing here
touches a database or a broker, so it can be replayed (``rules simulate``)
and benchmarked on its own. Every reason and note is worded by the area of
the referral's network (``terms``: Dorset's hub says virtual ward where
Croydon's network says MDT huddle); without area files, the default words.
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from schemas.referral import Referral
from schemas.vocabulary import Need, RedFlag, ServiceType
from services.router.domain.directory import (
    Described,
    Directory,
    Network,
    Service,
    accepting_at,
    described,
    is_open,
)
from services.router.domain.rules import Rule, RuleSet
from signpost.terminology import DEFAULT_TERMINOLOGY, Terminology, Vocabulary

# Pharmacy First: a pharmacy about to close cannot see the patient today.
CLOSING_MARGIN = timedelta(minutes=30)


@dataclass(frozen=True)
class Planned:
    service_id: str
    service_type: ServiceType
    agency_id: str
    network_id: str
    rule_id: str
    reason: str
    needs: tuple[Need, ...] = ()


@dataclass(frozen=True)
class Decision:
    rule_set_version: str
    directory_version: str
    assignments: tuple[Planned, ...] = ()
    unroutable_reason: str | None = None
    notes_to_referrer: tuple[str, ...] = field(default=())
    # Each assigned service's name and network coordinator, from the directory decided with.
    services: Mapping[str, Described] = field(default_factory=dict)

    @property
    def routed(self) -> bool:
        return bool(self.assignments)


def decide(
    referral: Referral,
    directory: Directory,
    rules: RuleSet,
    now: datetime,
    declined: frozenset[str] = frozenset(),
    *,
    terms: Terminology = DEFAULT_TERMINOLOGY,
) -> Decision:
    """Assign the referral: one assignment per agency, plus the huddle for complex cases."""
    return _described(
        _decide(referral, directory, rules, now, declined, terms), directory
    )


def reroute(
    referral: Referral,
    directory: Directory,
    rules: RuleSet,
    now: datetime,
    declined: frozenset[str],
    declined_type: ServiceType,
    declined_needs: tuple[Need, ...] = (),
    *,
    terms: Terminology = DEFAULT_TERMINOLOGY,
) -> Decision:
    """After a decline: the next suitable provider of the same kind, never one that declined; then the coordinator.

    The next provider takes on only the needs the declined assignment covered (``declined_needs``; none known
    means the whole referral): it is asked to do what the decliner would not, and minimisation then gives it
    no more of the referral than that part needs.
    """
    decision = _reroute(
        referral, directory, rules, now, declined, declined_type, declined_needs, terms
    )
    return _described(decision, directory)


def _described(decision: Decision, directory: Directory) -> Decision:
    found = {
        p.service_id: described(directory, p.service_id, p.network_id)
        for p in decision.assignments
    }
    return replace(decision, services={k: v for k, v in found.items() if v is not None})


def _decide(
    referral: Referral,
    directory: Directory,
    rules: RuleSet,
    now: datetime,
    declined: frozenset[str],
    terms: Terminology,
) -> Decision:
    unroutable = _unroutable(rules, directory)
    network = directory.network_of(referral.patient.gp_practice_ods)
    if network is None:  # no network, so no area: the default words
        return unroutable(
            terms.default.text("no_network", practice=referral.patient.gp_practice_ods)
        )
    words = terms.for_network(network.network_id)
    if len(declined) >= rules.max_declines:
        why = words.text("declined_by", count=len(declined))
        return _to_coordinator(
            referral, directory, rules, network, declined, why, words
        )
    needs, flags = set(referral.needs), set(referral.red_flags)
    matched = [
        (r, _covered(r, needs, flags))
        for r in rules.rules
        if not r.also and _covered(r, needs, flags)
    ]
    if not matched:
        return unroutable(
            words.text(
                "no_rule", needs=_codes(needs) or "-", flags=_codes(flags) or "-"
            )
        )
    if network.mode == "coordinator":
        return _to_coordinator(
            referral,
            directory,
            rules,
            network,
            declined,
            words.text("coordinator_mode"),
            words,
        )
    planned: dict[str, Planned] = {}
    notes: list[str] = []
    gaps: list[str] = []
    for rule, covered in matched:
        service, note = _provider(
            rule, referral, directory, network, now, declined, words
        )
        if note:
            notes.append(note)
        if service is None:
            gaps.append(
                words.text(
                    "no_provider",
                    rule_id=rule.id,
                    service=words.label(rule.assign),
                    network_id=network.network_id,
                )
            )
            continue
        reason = words.fill(rule.reason, needs=_codes(covered), flags="", why="")
        planned[service.agency_id] = _merge(
            planned.get(service.agency_id), service, network, rule, reason, covered
        )
    if not planned:
        return unroutable("; ".join(gaps))
    _add_also_rules(rules, directory, network, flags, planned, declined, words)
    return Decision(
        rules.version,
        directory.content_version,
        tuple(sorted(planned.values(), key=_order)),
        None,
        tuple(notes + gaps),
    )


def _reroute(
    referral: Referral,
    directory: Directory,
    rules: RuleSet,
    now: datetime,
    declined: frozenset[str],
    declined_type: ServiceType,
    declined_needs: tuple[Need, ...],
    terms: Terminology,
) -> Decision:
    unroutable = _unroutable(rules, directory)
    network = directory.network_of(referral.patient.gp_practice_ods)
    if network is None:
        return unroutable(
            terms.default.text("no_network", practice=referral.patient.gp_practice_ods)
        )
    words = terms.for_network(network.network_id)
    if len(declined) >= rules.max_declines:
        why = words.text("declined_by", count=len(declined))
        return _to_coordinator(
            referral, directory, rules, network, declined, why, words
        )
    candidates = [
        s
        for s in directory.services_in(network.network_id, declined_type)
        if s.service_id not in declined
        and accepting_at(s, now)
        and (
            declined_type is not ServiceType.COMMUNITY_PHARMACY
            or is_open(s, now, CLOSING_MARGIN)
        )
    ]
    if not candidates:
        why = words.text(
            "no_other",
            service=words.label(declined_type),
            network_id=network.network_id,
        )
        return _to_coordinator(
            referral, directory, rules, network, declined, why, words
        )
    service = candidates[0]
    reason = words.text(
        "reroute", service=words.label(declined_type), network_id=network.network_id
    )
    planned = Planned(
        service.service_id,
        declined_type,
        service.agency_id,
        network.network_id,
        "reroute-after-decline",
        reason,
        declined_needs or referral.needs,
    )
    return Decision(rules.version, directory.content_version, (planned,))


def _provider(
    rule: Rule,
    referral: Referral,
    directory: Directory,
    network: Network,
    now: datetime,
    declined: frozenset[str],
    words: Vocabulary,
) -> tuple[Service | None, str | None]:
    candidates = [
        s
        for s in directory.services_in(network.network_id, rule.assign)
        if accepting_at(s, now) and s.service_id not in declined
    ]
    if rule.strategy != "chosen_pharmacy":
        return (candidates[0] if candidates else None), None
    chosen = (
        directory.pharmacy(referral.chosen_pharmacy_ods)
        if referral.chosen_pharmacy_ods
        else None
    )
    if (
        chosen
        and accepting_at(chosen, now)
        and chosen.service_id not in declined
        and is_open(chosen, now, CLOSING_MARGIN)
    ):
        return chosen, None
    open_now = [s for s in candidates if is_open(s, now, CLOSING_MARGIN)]
    if not open_now:
        return None, None
    why = (
        "was not chosen"
        if chosen is None
        else "is closed or closing within 30 minutes"
        if accepting_at(chosen, now)
        else "is not accepting"
    )
    label = referral.chosen_pharmacy_ods or "no pharmacy"
    sent_to = f"{open_now[0].name} ({open_now[0].ods_code})"
    return open_now[0], words.text(
        "pharmacy_substituted", chosen=label, why=why, sent_to=sent_to
    )


def _to_coordinator(
    referral: Referral,
    directory: Directory,
    rules: RuleSet,
    network: Network,
    declined: frozenset[str],
    why: str,
    words: Vocabulary,
) -> Decision:
    coordinators = [
        s
        for s in directory.services_in(network.network_id, ServiceType.CARE_COORDINATOR)
        if s.service_id not in declined
    ]
    if not coordinators:
        return _unroutable(rules, directory)(
            words.text("no_coordinator", why=why, network_id=network.network_id)
        )
    service = coordinators[0]
    reason = words.text("to_coordinator", why=why)
    planned = {
        service.agency_id: Planned(
            service.service_id,
            service.service_type,
            service.agency_id,
            network.network_id,
            "coordinator-mode",
            reason,
            referral.needs,
        )
    }
    _add_also_rules(
        rules,
        directory,
        network,
        set(referral.red_flags),
        planned,
        declined,
        words,
        force_count=len(set(referral.needs)),
    )
    return Decision(
        rules.version,
        directory.content_version,
        tuple(sorted(planned.values(), key=_order)),
    )


def _add_also_rules(
    rules: RuleSet,
    directory: Directory,
    network: Network,
    flags: set[RedFlag],
    planned: dict[str, Planned],
    declined: frozenset[str],
    words: Vocabulary,
    force_count: int | None = None,
) -> None:
    agencies = force_count if force_count is not None else len(planned)
    for rule in (r for r in rules.rules if r.also):
        why = (
            [f"{agencies} agencies"]
            if rule.when.min_agencies and agencies >= rule.when.min_agencies
            else []
        )
        why += [f.value for f in sorted(flags & rule.when.any_red_flags)]
        services = [
            s
            for s in directory.services_in(network.network_id, rule.assign)
            if s.service_id not in declined
        ]
        if why and services:
            s = services[0]
            reason = words.fill(rule.reason, needs="", flags="", why=", ".join(why))
            planned.setdefault(
                s.agency_id,
                Planned(
                    s.service_id,
                    s.service_type,
                    s.agency_id,
                    network.network_id,
                    rule.id,
                    reason,
                ),
            )


def _covered(rule: Rule, needs: set[Need], flags: set[RedFlag]) -> tuple[Need, ...]:
    """The needs a rule takes on; a red-flag-only match covers no need but still matches."""
    hit_needs = needs & rule.when.any_needs
    if hit_needs:
        return tuple(sorted(hit_needs))
    return (Need.MEDICINES_OPTIMISATION,) if flags & rule.when.any_red_flags else ()


def _merge(
    existing: Planned | None,
    s: Service,
    network: Network,
    rule: Rule,
    reason: str,
    covered: tuple[Need, ...],
) -> Planned:
    if existing is None:
        return Planned(
            s.service_id,
            s.service_type,
            s.agency_id,
            network.network_id,
            rule.id,
            reason,
            covered,
        )
    needs = tuple(sorted(set(existing.needs) | set(covered)))
    return Planned(
        existing.service_id,
        existing.service_type,
        existing.agency_id,
        existing.network_id,
        f"{existing.rule_id}+{rule.id}",
        f"{existing.reason}; {reason}",
        needs,
    )


def _unroutable(rules: RuleSet, directory: Directory) -> Callable[[str], Decision]:
    def build(reason: str) -> Decision:
        return Decision(rules.version, directory.content_version, (), reason)

    return build


def _codes(values: set[Need] | set[RedFlag] | tuple[Need, ...]) -> str:
    return ", ".join(sorted(v.value for v in values))


def _order(p: Planned) -> tuple[bool, str]:
    return (p.service_type is ServiceType.MDT_HUDDLE, p.agency_id)
