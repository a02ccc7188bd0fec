"""RQ job functions: the ansible-runner bridge, periodic checks, the cron table."""
