"""Persistence is an interface: the web app implements `HealthStore` on its database; the in-memory
store serves tests, the benchmark and one-off command-line sweeps."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Protocol

from .alerts import Alert, AlertPolicies, CheckState, Notification, Transition, evaluate, retire, tick
from .results import CheckResult

Key = tuple[str, str]  # (server, check)


class HealthStore(Protocol):
    def load_states(self, keys: Iterable[Key]) -> dict[Key, CheckState]:
        """States of the given checks that exist; missing keys are simply absent."""
        ...

    def active_states(self) -> list[CheckState]:
        """Every state with an active alert (for escalation ticks)."""
        ...

    def commit(self, results: Sequence[CheckResult], transitions: Sequence[Transition]) -> None:
        """Store results and new states atomically; a transition's `resolved` alert becomes history."""
        ...


class InMemoryHealthStore:
    def __init__(self) -> None:
        self.results: list[CheckResult] = []
        self.states: dict[Key, CheckState] = {}
        self.history: list[Alert] = []

    def load_states(self, keys: Iterable[Key]) -> dict[Key, CheckState]:
        return {k: self.states[k] for k in keys if k in self.states}

    def active_states(self) -> list[CheckState]:
        return [s for s in self.states.values() if s.alert is not None]

    def commit(self, results: Sequence[CheckResult], transitions: Sequence[Transition]) -> None:
        self.results.extend(results)
        for t in transitions:
            self.states[(t.state.server, t.state.check)] = t.state
            if t.resolved is not None:
                self.history.append(t.resolved)


def record_results(store: HealthStore, results: Sequence[CheckResult],
                   policies: AlertPolicies) -> list[Notification]:
    """Run every result through the state machine, commit once, return what to notify."""
    states = store.load_states({(r.server, r.check) for r in results})
    transitions: list[Transition] = []
    for result in sorted(results, key=lambda r: r.checked_at):
        key = (result.server, result.check)
        transition = evaluate(states.get(key), result, policies.for_check(result.check))
        states[key] = transition.state
        transitions.append(transition)
    store.commit(results, transitions)
    return [n for t in transitions for n in t.notifications]


def escalate_due(store: HealthStore, policies: AlertPolicies, now: datetime) -> list[Notification]:
    """Escalate alerts that became due between sweeps."""
    transitions = [tick(s, policies.for_check(s.check), now) for s in store.active_states()]
    changed = [t for t in transitions if t.notifications]
    if changed:
        store.commit([], changed)
    return [n for t in changed for n in t.notifications]


def retire_server(
    store: HealthStore,
    server: str,
    now: datetime,
    reason: str,
    checks: Callable[[str], bool] = lambda _: True,
) -> list[Alert]:
    """Resolve every active alert of ``server`` (deprovisioned, gone), or of those of its checks that
    ``checks`` picks (the ones of an address it left), with ``reason``; returns them."""
    transitions = [
        retire(s, now, reason) for s in store.active_states() if s.server == server and checks(s.check)
    ]
    if transitions:
        store.commit([], transitions)
    return [t.resolved for t in transitions if t.resolved is not None]
