"""Names vulture (`make lint`) cannot see used: a framework, a template, the database or the API's
JSON reads them. Each group says who reads them; a name that is really unused goes, not here.
Routes, CLI commands, request hooks and pytest fixtures are recognised by their decorators (see
[tool.vulture] in pyproject.toml), and the Ansible modules' DOCUMENTATION/EXAMPLES/RETURN by name."""

# ruff: noqa: B018, F821
# Vulture's whitelist format: each line "uses" a name; `_` stands for any object.

# Ansible loads plugins by these class and attribute names.
InventoryModule
LookupModule
NAME
OBJECT  # the doc fragment mailfleet.fleet.mailu.object

# rq reads its worker settings module (`rq worker -c jobs.rqconfig`) by these names.
REDIS_URL
SENTINEL

# ptyprocess's close() reads it (jobs/bridge.py sets it for a reaped child).
_.delayafterclose

# mkdocs calls the guide's hooks (scripts/guide_hooks.py) by name.
on_pre_build
on_files
on_page_markdown
on_post_build

# Flask, Flask-Login, flask-smorest and SQLAlchemy call or read these on the objects they are given.
_.login_view
_.login_message_category
_.get_id
_.is_active
ERROR_SCHEMA
DEFAULT_ERROR_RESPONSE_NAME
_._register_error_handlers
impl
cache_ok
_.process_bind_param
_.process_result_value
_.bind_processor  # jobs.events.EncodedJSON: SQLAlchemy calls it
_.metrics_started  # flask.g, from before to after the request
_.collect  # prometheus_client calls a registered collector's collect()

# The standard library and urllib3 call these on subclasses and handlers.
_.run_marks  # logging: the text format's %(run_marks)s
ConnectionCls
_.pool_classes_by_scheme
_.sort_keys  # Flask's JSON provider
_.envfrom  # the testbed milter's callbacks (libmilter)
_.eom
_.do_GET  # http.server
_.do_POST
_.log_message
_.handle_starttag  # html.parser
_.handle_endtag
_.connection_made  # asyncio protocols
_.datagram_received
_.error_received
_.connection_lost
_._create_socket  # smtplib
_._content  # a requests.Response built by hand
_.loadscopereorder  # pytest-xdist's option
death_penalty_class  # rq's worker class attribute
_._install_signal_handlers
_.nameservers  # dnspython's resolver

# Columns: the database keeps them (migrations) and the pages or the API read some.
_.private_ipv4
private_ipv4
_.provider_status
provider_status
_.refreshed_at
refreshed_at
local_part
last_link
_.last_link
updated_at
created_by
parent_uuid
start_line
end_line
verbosity
acquired_at
queue_active
position  # rollout_targets: ordered by it (the relationship names it in a string)

# Fields of the API's JSON (marshmallow schemas, the OpenAPI document) and of what the templates show.
short_id
growth_bytes_24h
last_run
snapshot_id
rpo_seconds
rto_seconds
throwaway_server
copy_region
copy_where
used_pct
fields_
last_sweep_at
deleted
removed
propagation_seconds
mailboxes_refused
resolution_s
what_happens
recommendation
listing_hold  # the warm-up API
history_days
own_mode
tenant_mode
cooldown_hours
unit_price
list_name
requested_by
active_alerts
first_at
last_at
button
sending_ip
daily_cap
hourly_cap
next_day
next_daily_cap
first_day
last_day
REBUILD  # a provider status the contract lists
rescued  # an Ansible recap field the role tests parse

# pytest fixtures a test asks for their effect only.
open_umask
redis_pair

# SQLAlchemy calls a TypeDecorator's bind_processor (jobs.events.EncodedJSON binds JSON text as it is).
bind_processor
