"""The alert state machine: hysteresis, no duplicate notifications, escalation, acknowledgement."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from mailfleet.monitoring import (
    AlertPolicies,
    AlertPolicy,
    AlertState,
    AlertStateError,
    Channel,
    CheckResult,
    InMemoryHealthStore,
    NotificationKind,
    Severity,
    Status,
    acknowledge,
    escalate_due,
    evaluate,
    record_results,
    retire,
    retire_server,
    tick,
)

pytestmark = pytest.mark.unit

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
POLICY = AlertPolicy(fail_after=3, pass_after=2)


def result(i: int, status: Status, check: str = "port:25@192.0.2.1") -> CheckResult:
    return CheckResult("mail1", check, status, None, f"step {i}", T0 + timedelta(minutes=5 * i))


def run(statuses: list[Status], policy: AlertPolicy = POLICY):
    state, notes, resolved = None, [], []
    for i, status in enumerate(statuses):
        t = evaluate(state, result(i, status), policy)
        state = t.state
        notes.extend(t.notifications)
        if t.resolved:
            resolved.append(t.resolved)
    return state, notes, resolved


E, O, W, U = Status.ERROR, Status.OK, Status.WARNING, Status.UNKNOWN  # noqa: E741 - reads as a timeline


def test_opens_after_n_failures_in_a_row_and_notifies_once():
    state, notes, _ = run([E, E])
    assert state.alert is None and notes == []
    state, notes, _ = run([E, E, E, E, E, E])
    assert state.alert.state is AlertState.OPEN
    assert state.alert.severity is Severity.CRITICAL
    assert [n.kind for n in notes] == [NotificationKind.OPENED]
    assert state.alert.opened_at == T0 + timedelta(minutes=10)


def test_a_critical_result_opens_a_critical_alert_at_once_whatever_the_policy():
    policy = AlertPolicy(fail_after=3, pass_after=2, severity=Severity.WARNING)
    listed = CheckResult("mail1", "dnsbl:zen.spamhaus.org:192.0.2.1", Status.ERROR, "127.0.0.4",
                         "critically listed", T0, critical=True)
    opened = evaluate(None, listed, policy)
    assert opened.state.alert.severity is Severity.CRITICAL
    assert [n.kind for n in opened.notifications] == [NotificationKind.OPENED]
    again = evaluate(opened.state, replace(listed, checked_at=T0 + timedelta(minutes=5)), policy)
    assert again.notifications == () and again.state.alert.opened_at == T0


def test_closes_after_m_passes_and_notifies_resolution_once():
    state, notes, resolved = run([E, E, E, O, O, O, O])
    assert state.alert is None
    assert [n.kind for n in notes] == [NotificationKind.OPENED, NotificationKind.RESOLVED]
    assert len(resolved) == 1 and resolved[0].state is AlertState.RESOLVED
    assert [e.kind.value for e in resolved[0].events] == ["opened", "resolved"]


def test_flapping_check_never_opens_below_threshold():
    _, notes, _ = run([E, O, E, E, O, E, O, E, E, O] * 5)
    assert notes == []


def test_flapping_open_alert_sends_no_duplicates():
    # Open, then alternate pass/fail forever: one pass is never enough to resolve (pass_after=2).
    state, notes, _ = run([E, E, E] + [O, E] * 20)
    assert [n.kind for n in notes] == [NotificationKind.OPENED, NotificationKind.ESCALATED]
    assert [e.kind.value for e in state.alert.events] == ["opened", "escalated"]


def test_unknown_neither_opens_nor_resolves():
    state, notes, _ = run([E, E, U, U, U, E])
    assert [n.kind for n in notes] == [NotificationKind.OPENED]
    state, notes, _ = run([E, E, E, O, U, U, U, O])
    assert [n.kind for n in notes] == [NotificationKind.OPENED, NotificationKind.RESOLVED]
    _, notes, _ = run([U] * 10)
    assert notes == []


def test_severity_raise_notifies_once_even_when_flapping_between_levels():
    state, notes, _ = run([W, W, W, E, W, E, W, E])
    assert [n.kind for n in notes] == [NotificationKind.OPENED, NotificationKind.SEVERITY_RAISED]
    assert notes[0].alert.severity is Severity.WARNING
    assert state.alert.severity is Severity.CRITICAL


def test_unacknowledged_critical_escalates_once_after_30_minutes():
    policy = AlertPolicy(fail_after=1, pass_after=1, escalate_after=timedelta(minutes=30))
    state, notes, _ = run([E] * 12, policy)  # 55 minutes of failures
    escalations = [n for n in notes if n.kind is NotificationKind.ESCALATED]
    assert len(escalations) == 1
    assert escalations[0].channel is Channel.ESCALATION
    assert escalations[0].at == T0 + timedelta(minutes=30)


def test_acknowledged_alert_does_not_escalate_and_resolution_reaches_escalation_channel():
    policy = AlertPolicy(fail_after=1, pass_after=1)
    t = evaluate(None, result(0, E), policy)
    acked = acknowledge(t.state, "alice", T0 + timedelta(minutes=1), "looking")
    assert acked.state.alert.state is AlertState.ACKNOWLEDGED
    assert tick(acked.state, policy, T0 + timedelta(hours=2)).notifications == ()
    with pytest.raises(AlertStateError):
        acknowledge(acked.state, "bob", T0)
    # Escalated, then resolved: both channels hear the all-clear.
    esc = tick(t.state, policy, T0 + timedelta(minutes=31))
    assert [n.channel for n in esc.notifications] == [Channel.ESCALATION]
    done = evaluate(esc.state, result(7, O), policy)
    assert {n.channel for n in done.notifications} == {Channel.PRIMARY, Channel.ESCALATION}


def test_warning_alerts_do_not_escalate():
    policy = AlertPolicy(fail_after=1, pass_after=1)
    t = evaluate(None, result(0, W), policy)
    assert tick(t.state, policy, T0 + timedelta(days=1)).notifications == ()


def test_acknowledge_without_alert_is_an_error():
    t = evaluate(None, result(0, O), POLICY)
    with pytest.raises(AlertStateError, match="no active alert"):
        acknowledge(t.state, "alice", T0)


def test_policies_by_prefix_longest_wins():
    strict = AlertPolicy(fail_after=1)
    stricter = AlertPolicy(fail_after=1, pass_after=5)
    policies = AlertPolicies(AlertPolicy(), (("dnsbl:", strict), ("dnsbl:zen.", stricter)))
    assert policies.for_check("dnsbl:zen.spamhaus.org:192.0.2.1") is stricter
    assert policies.for_check("dnsbl:bl.spamcop.net:192.0.2.1") is strict
    assert policies.for_check("port:25@192.0.2.1") is policies.default


def test_policy_rejects_nonsense():
    with pytest.raises(ValueError, match="at least 1"):
        AlertPolicy(fail_after=0)


def test_store_pipeline_flapping_sends_no_duplicates_and_keeps_history():
    store = InMemoryHealthStore()
    policies = AlertPolicies(POLICY)
    sent = []
    pattern = [E, E, E, O, E, O, E, O, O, O, E, O]
    for i, status in enumerate(pattern):
        sent += record_results(store, [result(i, status)], policies)
    assert [n.kind for n in sent] == [NotificationKind.OPENED, NotificationKind.RESOLVED]
    assert len(store.history) == 1 and len(store.results) == len(pattern)
    assert escalate_due(store, policies, T0 + timedelta(days=1)) == []


def test_escalate_due_between_sweeps():
    store = InMemoryHealthStore()
    policies = AlertPolicies(AlertPolicy(fail_after=1))
    assert [n.kind for n in record_results(store, [result(0, E)], policies)] == [NotificationKind.OPENED]
    assert escalate_due(store, policies, T0 + timedelta(minutes=29)) == []
    due = escalate_due(store, policies, T0 + timedelta(minutes=30))
    assert [n.kind for n in due] == [NotificationKind.ESCALATED]
    assert escalate_due(store, policies, T0 + timedelta(minutes=40)) == []


def test_retiring_a_server_resolves_its_alerts_with_the_reason_and_notifies_nobody():
    store = InMemoryHealthStore()
    policies = AlertPolicies(AlertPolicy(fail_after=1))
    other = CheckResult("mail2", "port:25@192.0.2.2", E, None, "down", T0)
    record_results(store, [result(0, E), result(0, E, "ptr"), other], policies)
    gone = T0 + timedelta(hours=1)
    resolved = retire_server(store, "mail1", gone, "mail1 was deprovisioned (run 7)")
    assert sorted(a.check for a in resolved) == ["port:25@192.0.2.1", "ptr"]
    for alert in resolved:
        assert alert.state is AlertState.RESOLVED and alert.resolved_at == gone
        assert (alert.events[-1].kind.value, alert.events[-1].detail) == (
            "resolved", "mail1 was deprovisioned (run 7)")
    assert [s.server for s in store.active_states()] == ["mail2"]  # another server's stays open
    assert len(store.history) == 2 and store.states[("mail1", "ptr")].failures == 0
    assert retire_server(store, "mail1", gone, "again") == []  # nothing left: nothing changes
    escalated = escalate_due(store, policies, gone + timedelta(days=1))
    assert [n.alert.server for n in escalated] == ["mail2"]


def test_retiring_needs_a_reason():
    state, _, _ = run([E, E, E])
    with pytest.raises(AlertStateError):
        retire(state, T0, "")
    assert retire(state, T0, "gone").notifications == ()
