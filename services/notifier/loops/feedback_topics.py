"""Every organisation that may refer has its feedback topic, also one registered while the system runs.

The local stack, the secured broker and the chart create a feedback topic for
each organisation in the client registry when they start. The registry is
read again whenever its file changes, so a client added later may refer at
once; without its topic, the first outcome it should hear would be held in
the outbox (``signpost/outbox.py``) until someone created it by hand. This
loop closes that gap: each round it creates the topics of organisations that
may refer and that it has not seen to yet, and the topic of any held
``practice.<ods>.feedback`` whose organisation may refer (one deleted by
hand). The relay's probe then finds the topic and releases what waited.

The notifier's broker grant is CREATE on the ``practice.`` prefix (a prefix
cannot say ``.feedback``), so this module keeps to ``practice.<ods>.feedback``
names of organisations the registry admits, and creates nothing else.
"""

import asyncio
import re
from collections.abc import Awaitable, Callable, Collection, Iterable

from signpost import logs, loops
from signpost.topics import practice_topics

log = logs.get_logger()
LOOP = "feedback-topics"
INTERVAL_S = 5.0  # a newly registered referrer waits at most this long (plus the relay's probe) for its topic
_FEEDBACK_TOPIC = re.compile(r"practice\.([A-Z0-9]{3,9})\.feedback")

Create = Callable[[dict[str, int]], Awaitable[list[str]]]


def missing(
    may_refer: Collection[str], ensured: Collection[str], held: Iterable[str]
) -> set[str]:
    """The organisations whose feedback topic to create now: new ones, and those whose topic the relay holds."""
    held_referrers = {m.group(1) for t in held if (m := _FEEDBACK_TOPIC.fullmatch(t))}
    return {ods for ods in may_refer if ods not in ensured or ods in held_referrers}


class FeedbackTopics:
    def __init__(
        self,
        create: Create,
        may_refer: Callable[[], set[str]],
        held: Callable[[], Iterable[str]],
    ) -> None:
        self.create, self.may_refer, self.held = create, may_refer, held
        self.ensured: set[str] = set()

    async def round(self) -> int:
        """Create what is missing; returns 0 so the loop waits its interval (a new client is rare)."""
        wanted = missing(self.may_refer(), self.ensured, self.held())
        if not wanted:
            return 0
        created = await self.create(practice_topics(sorted(wanted)))
        self.ensured |= wanted
        if created:
            log.info(
                "feedback topics created", topics=created
            )  # organisation codes only, no person
        return 0


def start(
    create: Create, may_refer: Callable[[], set[str]], held: Callable[[], Iterable[str]]
) -> "asyncio.Task[None]":
    return loops.start(LOOP, FeedbackTopics(create, may_refer, held).round, INTERVAL_S)
