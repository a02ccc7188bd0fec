"""Numbers and names the job engine relies on, in one place."""

from __future__ import annotations

from typing import Final

#: Environment names copied from the worker to ansible-playbook; nothing else is passed on.
#: ANSIBLE_STRATEGY is the switch between Ansible's stock strategy and Mitogen's (ansible.cfg).
CHILD_ENV_NAMES: Final = frozenset(
    {"HOME", "LANG", "LC_ALL", "TZ", "HOSTWINDS_API_URL", "DIGITALOCEAN_API_URL", "ANSIBLE_STRATEGY"}
)

#: How often runner's loop calls back (cancel check, heartbeat, event flush), in seconds.
TICK_SECONDS: Final = 1.0
#: Events are written in batches of at most this many, or after this long.
EVENT_BATCH_SIZE: Final = 200
EVENT_FLUSH_SECONDS: Final = 0.25
#: One event's stdout and event_data are capped: a task dumping megabytes cannot fill the table.
MAX_STDOUT_CHARS: Final = 64 * 1024
MAX_EVENT_DATA_CHARS: Final = 256 * 1024

#: Queued runs older than this whose job Redis does not know are enqueued again.
RECONCILE_GRACE_SECONDS: Final = 30
