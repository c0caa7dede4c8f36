"""The chaos run's moving parts: the processes it kills, the clients that keep submitting, the faults."""

import asyncio
import contextlib
import itertools
import signal
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from benchmarks import mix
from deploy.kafka import local as kafka_local
from deploy.postgres import local as postgres_local
from toolbox.stack import SERVICES, Stack, create_topics
from toolbox.tokens import dev_token

ACTIONS = (*(f"kill {s}" for s in SERVICES), "kill broker", "restart postgres")
RETRY_EVERY_S = 0.3
"""A client's pause between attempts at one referral (its retry interval, not a wait for readiness)."""
GIVE_UP_S = 300.0
RESTART_PAUSE_S = 1.0
"""A supervisor's pause before starting a service that exited again (its restart backoff, not a readiness wait)."""


@contextlib.contextmanager
def timed(say: Callable[[str], None], stage: str) -> Iterator[None]:
    """Say how long ``stage`` took: the runs are long, and where their time goes is what makes them shorter."""
    at = time.monotonic()
    try:
        yield
    finally:
        say(f"{stage}: {time.monotonic() - at:.1f}s")


@dataclass
class Tokens:
    """One bearer token per client, minted afresh every few minutes.

    Intake refuses tokens that live over an hour, and a long run outlasts one. A client with no token
    yet always mints: the monotonic clock counts from boot, so on a machine up for under five minutes
    a start of 0.0 would look fresh and the first requests would carry no token at all.
    """

    mint: Callable[[str], str]
    clock: Callable[[], float] = time.monotonic
    refresh_s: float = 300.0
    held: dict[str, tuple[float, str]] = field(default_factory=dict)

    def get(self, client: str) -> str:
        now = self.clock()
        minted = self.held.get(client)
        if minted is None or now - minted[0] > self.refresh_s:
            minted = self.held[client] = now, self.mint(client)
        return minted[1]


@dataclass(frozen=True, order=True)
class Fault:
    after: int
    """Carried out once this many referrals have been accepted."""
    action: str

    @property
    def target(self) -> str:
        return self.action.split()[-1]


@dataclass
class Progress:
    """What the clients and the faults have done so far, shared with the progress line."""

    started: float
    loaded: float | None = None
    """When the last referral was accepted."""
    accepted: list[str] = field(default_factory=list)
    retries: Counter[str] = field(default_factory=Counter)
    faults: list[str] = field(default_factory=list)
    moved: asyncio.Condition = field(default_factory=asyncio.Condition)


class Chaos:
    """Kafka, PostgreSQL and the four services of one run, all of them its own to kill."""

    def __init__(
        self,
        state: Path,
        kafka_port: int,
        postgres_port: int,
        port_base: int,
        ready_s: float = 120.0,
        instances: int = 1,
        extra_env: dict[str, str] | None = None,
        say: Callable[[str], None] = lambda _: None,
    ) -> None:
        self.say = say
        """Where the start's stages say how long they took."""
        self.ready_s = ready_s
        """How long a restarted service may take to answer /readyz before the run fails with its reason."""
        self.kafka = kafka_local.KafkaNode(
            state / "kafka", port=kafka_port, controller_port=kafka_port + 1
        )
        self.postgres = postgres_local.PostgresNode(
            state / "postgres", port=postgres_port
        )
        self.state = state
        self.port_base = port_base
        self.ports = {s: port_base + i + 1 for i, s in enumerate(SERVICES)}
        self.instances = instances
        """With more than one, each service runs as that many named instances, ``<service>-1`` and on."""
        self.extra_env = dict(extra_env or {})
        self.stack: Stack | None = None

    def port(self, service: str, n: int) -> int:
        """The n-th instance's HTTP port (n from 1): the service's own port, then ten apart."""
        return self.ports[service] + 10 * (n - 1)

    def start(self, instances: int | None = None) -> Stack:
        """Kafka, PostgreSQL, the topics and the services: ``instances`` of each (default: all of ``self.instances``).

        The broker (with its topics) and the database (with the services' roles) start side by side: neither
        needs the other, and one after the other the run would wait for both in turn.
        """
        with ThreadPoolExecutor(max_workers=1) as pool:
            broker = pool.submit(self._broker)
            with timed(self.say, "PostgreSQL started"):
                url = postgres_local.start(self.postgres)
            # The clients send a whole area's referrals through one practice's identity, far past its rate limit
            # (and every retry after a kill counts again): a 429 would measure the limiter, not recovery.
            load_limits = {
                "SIGNPOST_RATE_LIMIT_REFERRER": "1000000/minute",
                **self.extra_env,
            }
            self.stack = Stack(
                self.kafka.bootstrap,
                url,
                self.state,
                ports=self.ports,
                extra_env=load_limits,
            )
            with timed(self.say, "database roles provisioned"):
                self.stack.provision_database()
            self.stack.kafka_bootstrap = broker.result()
        with timed(self.say, "services started and ready"):
            if self.instances == 1:
                self.stack.start_all()
            else:
                self.start_instances(range(1, (instances or self.instances) + 1))
        return self.stack

    def _broker(self) -> str:
        """Start the broker and create the topics; its bootstrap address."""
        from services.router.inputs import known_agencies
        from signpost.settings import Settings

        with timed(self.say, "Kafka started"):
            bootstrap = kafka_local.start(self.kafka)
        with timed(self.say, "topics created"):
            create_topics(bootstrap, known_agencies(Settings()))
        return bootstrap

    def start_instances(self, numbers: Iterable[int]) -> None:
        """These instances of every service, named ``<service>-<n>``, started together and then waited for."""
        assert self.stack is not None
        names = []
        for n in numbers:
            for service in SERVICES:
                self.stack.start_service(
                    service, instance=f"{service}-{n}", port=self.port(service, n)
                )
                names.append(f"{service}-{n}")
        at = time.monotonic()
        for name in names:
            self.stack.wait_ready(name, timeout=self.ready_s)
            self.say(f"  {name} ready by {time.monotonic() - at:.1f}s")

    def stop(self) -> None:
        """Stop the services side by side, then the broker and the database: the run's state is thrown away."""
        with timed(self.say, "stopped"):
            if self.stack:
                self.stop_services(list(self.stack.processes))
            # No controlled shutdown (it takes the broker many seconds): nothing of its state is kept.
            kafka_local.kill(self.kafka)
            kafka_local.stop(self.kafka)
            postgres_local.stop(self.postgres)

    def stop_services(self, names: list[str]) -> None:
        """SIGTERM these instances all at once and wait for each: one after another, their shutdowns add up."""
        assert self.stack is not None
        stack = self.stack
        with ThreadPoolExecutor(max_workers=max(1, len(names))) as pool:
            list(pool.map(stack.stop_service, names))

    def act(self, action: str) -> str:
        """Carry out one fault and wait until the part is back; say anything worth knowing about the recovery."""
        assert self.stack is not None
        kind, _, target = action.partition(" ")
        if kind == "kill" and target in SERVICES:
            return self._kill_and_restart(target)
        if action == "kill broker":
            kafka_local.kill(self.kafka)
            kafka_local.start(self.kafka)
            return ""
        if action == "restart postgres":
            postgres_local.stop(self.postgres)
            postgres_local.start(self.postgres)
            return ""
        raise ValueError(f"unknown fault {action!r}")

    def _kill_and_restart(self, service: str) -> str:
        """SIGKILL the service and start it again, as a supervisor would (see ``restart``)."""
        assert self.stack is not None
        self.stack.stop_service(service, sig=signal.SIGKILL)
        return self.restart(service)

    def restart(
        self, service: str, instance: str | None = None, port: int | None = None
    ) -> str:
        """Start the service (or its named instance) until it is ready or ``ready_s`` runs out.

        A service that starts while another fault has PostgreSQL or the broker away exits at once (a database
        that is shutting down can take ten seconds and more to checkpoint): like systemd or Kubernetes, start it
        again after a pause, however often, within the time allowed. Three quick tries used to run out while
        PostgreSQL was still shutting down.
        """
        assert self.stack is not None
        name = instance or service
        deadline = time.monotonic() + self.ready_s
        attempt = 0
        while True:
            attempt += 1
            self.stack.start_service(service, instance=instance, port=port)
            try:
                self.stack.wait_ready(
                    name, timeout=max(1.0, deadline - time.monotonic())
                )
                return f"; started {attempt} times" if attempt > 1 else ""
            except RuntimeError as exited:
                if time.monotonic() >= deadline:
                    raise RuntimeError(
                        f"{name} would not start again within {self.ready_s:.0f}s of being killed"
                        f" ({attempt} starts; last: {exited}); see {self.stack.log_file(name)}"
                    ) from None
                time.sleep(RESTART_PAUSE_S)


async def submit(
    http: httpx.AsyncClient,
    intake: str | Sequence[str],
    submission: mix.Submission,
    token: str,
    retries: Counter[str],
    give_up_s: float = GIVE_UP_S,
) -> str:
    """One referral, sent until intake answers 202; every attempt carries the same X-Request-Id.

    Given several intake instances, each attempt goes to the next, as a load balancer would fail over.
    """
    headers = {"Authorization": token, "X-Request-Id": str(uuid.uuid4())}
    give_up = time.monotonic() + give_up_s
    intakes = [intake] if isinstance(intake, str) else list(intake)
    turn = uuid.UUID(
        headers["X-Request-Id"]
    ).int  # where the first attempt goes: spread over the instances
    while True:
        turn += 1
        try:
            response = await http.post(
                f"{intakes[turn % len(intakes)]}/v1/referrals",
                json=submission.body,
                headers=headers,
            )
        except httpx.TransportError as exc:
            reason = type(
                exc
            ).__name__  # intake is down, or was killed with the request in flight
        else:
            if response.status_code == 202:
                referral_id: str = response.json()["referral_id"]
                return referral_id
            if response.status_code < 500 and response.status_code != 429:
                raise RuntimeError(
                    f"intake refused a valid referral: {response.status_code} {response.text[:300]}"
                )
            reason = f"HTTP {response.status_code}"
        retries[reason] += 1
        if time.monotonic() > give_up:
            raise TimeoutError(
                f"a referral was not accepted within {give_up_s:.0f}s; last: {reason}"
            )
        await asyncio.sleep(RETRY_EVERY_S)


async def load(
    intake: str | Sequence[str],
    submissions: Sequence[mix.Submission] | Callable[[int], mix.Submission],
    rate: float,
    clients: int,
    state: Progress,
    give_up_s: float = GIVE_UP_S,
    until: asyncio.Event | None = None,
    in_turn: Callable[[mix.Submission], str] | None = None,
) -> None:
    """Submit every referral, the i-th not before ``i / rate`` seconds in; a client busy retrying holds up only itself.

    ``submissions`` may be a function of i: then referrals go on until ``until`` is set. Referrals that
    ``in_turn`` gives the same name (one patient's) go one after another, each once the previous one has its 202,
    so the order they must keep downstream is the order they were sent in.
    """
    tokens = Tokens(mint=lambda client: f"Bearer {dev_token(client, lifetime_s=900)}")
    turns: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
    nth = submissions if callable(submissions) else submissions.__getitem__
    slots = (
        itertools.count() if callable(submissions) else iter(range(len(submissions)))
    )
    started = time.monotonic()

    async def client(http: httpx.AsyncClient) -> None:
        for i in slots:  # shared by the clients: each takes the next slot
            # Pacing the load: the i-th referral is due at started + i / rate.
            await asyncio.sleep(max(0.0, started + i / rate - time.monotonic()))
            if until is not None and until.is_set():
                return
            submission = nth(i)
            async with turns[in_turn(submission) if in_turn else str(i)]:
                referral_id = await submit(
                    http,
                    intake,
                    submission,
                    tokens.get(submission.client),
                    state.retries,
                    give_up_s,
                )
            async with state.moved:
                state.accepted.append(referral_id)
                state.moved.notify_all()

    async with httpx.AsyncClient(
        timeout=20, limits=httpx.Limits(max_connections=clients)
    ) as http:
        await asyncio.gather(*(client(http) for _ in range(clients)))
    state.loaded = time.monotonic()


async def inject(
    chaos: Chaos, plan: list[Fault], state: Progress, say: Callable[[str], None]
) -> None:
    """Each fault when its moment comes; faults on different parts may overlap, those on one part take turns."""
    turns: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)

    async def one(fault: Fault) -> None:
        async with state.moved:
            await state.moved.wait_for(lambda: len(state.accepted) >= fault.after)
        async with turns[fault.target]:
            at, began = len(state.accepted), time.monotonic()
            say(f"[{began - state.started:4.0f}s] {fault.action} (after {at} accepted)")
            note = await asyncio.to_thread(chaos.act, fault.action)
            state.faults.append(
                f"{fault.action} at {began - state.started:.1f}s after {at} accepted: back in {time.monotonic() - began:.1f}s{note}"
            )

    await asyncio.gather(*(one(f) for f in plan))
