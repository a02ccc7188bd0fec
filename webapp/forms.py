"""Flask-WTF forms: every form carries a CSRF token; lengths are bounded before any service sees them.

Forms that enqueue work carry a ``submission_key`` made when the page is rendered, so a double
click or a resent form creates one run.
"""

from __future__ import annotations

import uuid
from typing import Any

from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DecimalField,
    EmailField,
    HiddenField,
    IntegerField,
    PasswordField,
    SelectChoice,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import AnyOf, DataRequired, InputRequired, Length, NumberRange, Optional


def _new_key() -> str:
    return uuid.uuid4().hex


def _optional_id(value: object) -> int | None:
    return None if value in (None, "") else int(value)  # type: ignore[call-overload]


class SubmissionForm(FlaskForm):
    submission_key = HiddenField(default=_new_key, validators=[DataRequired(), Length(min=8, max=64)])


class LoginForm(FlaskForm):
    email = EmailField("Email", validators=[DataRequired(), Length(max=254)])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=256)])


class PasswordForm(FlaskForm):
    current = PasswordField("Current password", validators=[DataRequired(), Length(max=256)])
    new = PasswordField("New password", validators=[DataRequired(), Length(min=12, max=256)])


class TenantForm(FlaskForm):
    slug = StringField(
        "Slug",
        validators=[DataRequired(), Length(max=32)],
        description="3-32 characters: a-z, 0-9 and '-'; starts with a letter",
    )
    name = StringField("Name", validators=[DataRequired(), Length(max=120)])


class MemberForm(FlaskForm):
    email = EmailField("Email", validators=[DataRequired(), Length(max=254)])
    password = PasswordField("Password", validators=[DataRequired(), Length(min=12, max=256)])
    role = SelectField(
        "Role",
        choices=[
            SelectChoice("member", "Member: may order servers"),
            SelectChoice("mailbox_manager", "Mailbox manager: may not order servers"),
        ],
        default="member",
        validators=[DataRequired()],
    )


class HomeRegionForm(FlaskForm):
    home_region = SelectField(
        "Home region", validators=[Optional()], description="Where new servers go when no location is chosen"
    )


class LimitsForm(FlaskForm):
    max_servers = IntegerField(
        "Most servers", validators=[Optional(), NumberRange(min=0, max=10000)], description="Empty: no limit"
    )
    max_monthly_spend = DecimalField(
        "Most monthly spend",
        places=2,
        validators=[Optional(), NumberRange(min=0, max=99999999)],
        description="In the provider's monthly plan prices; empty: no limit",
    )


#: The provisioning form's value for "anywhere in a region" is this prefix and the region.
REGION_CHOICE = "region:"


class ProvisionForm(SubmissionForm):
    # Choices are the providers' current locations and plans (webapp.services.provider), grouped by
    # provider when the deployment uses more than one, and "anywhere in <region>" (REGION_CHOICE +
    # the region) for the control plane to place it. Which provider offers which location and plan
    # is the service's check, as for the API, so a refusal names what the provider offers.
    provider = SelectField(
        "Provider",
        validators=[Optional(), Length(max=32)],
        validate_choice=False,
        description="Its locations and plans are listed under its name",
    )
    location = SelectField(
        "Location",
        validators=[DataRequired(), Length(max=64)],
        description="A data centre, or a region to be placed in",
    )
    plan = SelectField(
        "Plan", validators=[DataRequired(), Length(max=64)], description="Monthly price at the provider"
    )
    mail_hostname = StringField(
        "Mail host name",
        validators=[DataRequired(), Length(max=253)],
        description="The server's FQDN (its PTR record)",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        #: Why each provider that cannot be ordered from now is not offered (by its name).
        self.unavailable: dict[str, str] = {}


class DomainForm(SubmissionForm):
    server_id = SelectField("Server", coerce=int, validators=[DataRequired()])
    name = StringField("Domain", validators=[DataRequired(), Length(max=253)])


class SecondaryMxForm(SubmissionForm):
    # 0: no secondary MX.
    server_id = SelectField("Secondary MX", coerce=int, validators=[InputRequired()])


class MailboxForm(FlaskForm):
    domain_id = SelectField("Domain", coerce=int, validators=[DataRequired()])
    local_parts = TextAreaField(
        "Mailbox names",
        validators=[DataRequired(), Length(max=8000)],
        description="One per line (the part before the @); up to 100",
    )
    quota_mb = IntegerField("Quota (MB)", validators=[Optional(), NumberRange(min=1, max=102400)])
    # Admins only: create them although the domain's DNS is not ready (recorded on the domain).
    dns_override = BooleanField("Create even if the domain's DNS is not ready")


class RunForm(SubmissionForm):
    playbook = SelectField("Playbook", validators=[DataRequired()])
    limit = StringField(
        "Limit to servers",
        validators=[Optional(), Length(max=255)],
        description="Comma-separated server names; empty for all of the tenant's servers",
    )


class RolloutForm(FlaskForm):
    """A fleet rollout: the services layer checks the share and the threshold (one message each)."""

    playbook = SelectField("Playbook", validators=[DataRequired()])
    share = StringField(
        "In flight at once",
        validators=[DataRequired(), Length(max=8)],
        description="A share of the servers (25%) or a number of runs (3)",
    )
    failure_threshold = IntegerField(
        "Stop when failures pass (%)",
        validators=[InputRequired()],
        description="0 stops at the first failure, 100 never stops",
    )
    tenants = StringField(
        "Tenants",
        validators=[Optional(), Length(max=2000)],
        description="Comma-separated slugs; empty for every tenant",
    )


def _restore_before_field() -> StringField:
    """A restore's point in time (the services layer reads and checks it)."""
    return StringField(
        "Point in time (UTC)",
        validators=[Optional(), Length(max=32)],
        description="YYYY-MM-DD HH:MM:SS: the latest snapshot taken at or before it; empty for the latest",
    )


class ServerActionForm(SubmissionForm):
    """Back up, restore, rotate: the services layer checks each choice against the tenant's servers."""

    server_id = SelectField("Server", coerce=_optional_id, validate_choice=False)
    restore_before = _restore_before_field()
    source_server_id = SelectField("Snapshot of", coerce=_optional_id, validate_choice=False)
    confirm = BooleanField("I understand what this replaces")


class FailoverForm(FlaskForm):
    """An admin turns failover without asking on or off for a tenant, ticking the confirmation."""

    on = HiddenField(validators=[AnyOf(("yes", "no"), message="yes or no")])  # what the button sets
    confirm = BooleanField(
        "I understand: a server down beyond the threshold is replaced by a new one without asking",
        validators=[DataRequired(message="tick the confirmation")],
    )


class RecoverForm(SubmissionForm):
    """A lost server onto a new one: the services layer checks the server, location and plan."""

    server_id = SelectField("Lost server", coerce=_optional_id, validate_choice=False)
    restore_before = _restore_before_field()
    from_copy = BooleanField("Restore from its backup copy in another region (its own region is lost)")
    location = SelectField("Location of the new server", validators=[DataRequired(), Length(max=64)])
    plan = SelectField(
        "Plan", validators=[DataRequired(), Length(max=64)], description="Monthly price at the provider"
    )
    confirm = BooleanField("I understand that a new server is ordered and DNS moves to it")


class ConfirmForm(SubmissionForm):
    """A destructive action: the object's name typed back."""

    confirm = StringField("Type the name to confirm", validators=[DataRequired(), Length(max=254)])


class SwitchIpForm(ConfirmForm):
    """Switching a server's IP; an administrator may override the cooldown (recorded)."""

    override_cooldown = BooleanField("Override the cooldown (kept with the run)")


class ActionForm(FlaskForm):
    """Buttons (cancel, retry, new token): only the CSRF token."""


class RetryForm(SubmissionForm):
    pass


class BudgetForm(FlaskForm):
    # Text, not a number field: webapp.services.costs.parse_budget says what is wrong with it.
    budget = StringField("Monthly budget ($)", validators=[Length(max=20)], description="Empty: no budget")


class AutoScalePolicyForm(FlaskForm):
    # Text fields: webapp.services.autoscale.parse_policy says what is wrong with each; empty: the default.
    cpu_p95_pct = StringField("CPU, 95th percentile above (%)", validators=[Length(max=20)])
    mem_p99_pct = StringField("Memory, 99th percentile above (%)", validators=[Length(max=20)])
    disk_full_days = StringField("Disk full within (days)", validators=[Length(max=20)])
    max_plan = StringField("Max plan", validators=[Length(max=120)], description="Empty: any offered")
    max_monthly_spend = StringField(
        "Max monthly spend ($)", validators=[Length(max=20)], description="At most the budget; empty: none"
    )
    cooldown_hours = StringField("Cooldown (hours)", validators=[Length(max=20)])


class WarmupForm(FlaskForm):
    curve = SelectField(
        "Plan",
        choices=[
            SelectChoice("conservative", "Conservative (20/day, 10,000/day by day 45)"),
            SelectChoice("standard", "Standard (50/day, 2,000 by day 14, 10,000 by day 30)"),
            SelectChoice("aggressive", "Aggressive (200/day, 10,000 by day 14)"),
            SelectChoice("custom", "Custom table (below)"),
        ],
        validators=[DataRequired()],
    )
    table = TextAreaField(
        "Custom table",
        validators=[Optional(), Length(max=20000)],
        description="One step a line: warm-up day, daily cap, optional hourly cap (e.g. '1 50 10')",
    )
    restart = BooleanField("Start again at day 1 today")


class SendingCapsForm(FlaskForm):
    caps = TextAreaField(
        "Domain and mailbox caps",
        validators=[Optional(), Length(max=20000)],
        description="One a line: a domain or mailbox of this server, its daily cap, optional hourly cap "
        "(e.g. 'jane@acme.example 100 20')",
    )
