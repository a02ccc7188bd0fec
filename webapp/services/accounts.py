"""People: creating users, logging in (rate limited), API tokens."""

from __future__ import annotations

import math
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import ColumnElement, and_, delete, func, select

from mailfleet.clock import utcnow
from mailfleet.validation import normalize_email
from webapp.errors import Conflict, InvalidInput, RateLimited, valid
from webapp.extensions import db
from webapp.models import LoginFailure, Role, Tenant, User
from webapp.security import MIN_PASSWORD_LENGTH, check_password, hash_password, new_api_token, token_hash
from webapp.services.scope import Scope

# The login budget (MAILFLEET_LOGIN_MAX_FAILURES) holds per account and client address; an account
# from all addresses gets ACCOUNT_FACTOR times as much, one address over all accounts (several
# people behind one NAT) ADDRESS_FACTOR times. Past a budget, each failure doubles the wait.
ACCOUNT_FACTOR = 10
ADDRESS_FACTOR = 4
BACKOFF_SECONDS = 2
MAX_PASSWORD_LENGTH = 256
# Compared against when the account does not exist, so timing does not reveal which emails exist.
_DUMMY_HASH = hash_password("mailfleet-timing-equaliser")


def _check_length(password: str) -> None:
    if not MIN_PASSWORD_LENGTH <= len(password) <= MAX_PASSWORD_LENGTH:
        raise InvalidInput(
            f"the password must be {MIN_PASSWORD_LENGTH}-{MAX_PASSWORD_LENGTH} characters long"
        )


def create_user(email: str, password: str, role: Role, tenant: Tenant | None) -> User:
    """Used by the CLI (first admin) and by admins through :func:`add_member`."""
    email = valid(normalize_email, email)
    _check_length(password)
    if (role != Role.ADMIN) != (tenant is not None):
        raise InvalidInput("a member belongs to exactly one tenant; an admin to none")
    if db.session.execute(select(User.id).where(User.email == email)).first():
        raise Conflict(f"a user {email} already exists")
    user = User(
        email=email, password_hash=hash_password(password), role=role, tenant_id=tenant.id if tenant else None
    )
    db.session.add(user)
    db.session.commit()
    return user


def add_member(scope: Scope, tenant: Tenant, email: str, password: str, role: Role = Role.MEMBER) -> User:
    """``role``: MEMBER, or MAILBOX_MANAGER for one who may not order servers."""
    scope.require_admin()
    if role == Role.ADMIN:
        raise InvalidInput("a tenant's member cannot be an administrator")
    return create_user(email, password, role, tenant)


def _wait_seconds(failed: ColumnElement[bool], free: int, now: datetime, since: datetime) -> float:
    """How long the failures matching ``failed`` still hold the next attempt back: nothing for the
    first ``free`` ones, then a delay from the last failure that doubles with each one after."""
    count, last = db.session.execute(
        select(func.count(), func.max(LoginFailure.at)).where(failed, LoginFailure.at >= since)
    ).one()
    if count < free or last is None:
        return 0.0
    window = (now - since).total_seconds()
    delay = min(BACKOFF_SECONDS * 2 ** min(count - free, 32), window)
    return max(0.0, delay - (now - last).total_seconds())


def authenticate(email: str, password: str, address: str) -> User | None:
    """The user, or None for a wrong email/password; RateLimited while failures hold it back.

    Failures are counted per account and client address, so guessing from one address slows that
    address down on that account only and the owner can still log in from elsewhere. The account
    as a whole, and one address across accounts, have looser budgets of their own.
    """
    email = (email or "").strip().lower()[:254]
    address = address[:64]
    budget = current_app.config["MAILFLEET_LOGIN_MAX_FAILURES"]
    now = utcnow()
    since = now - timedelta(seconds=current_app.config["MAILFLEET_LOGIN_WINDOW_SECONDS"])
    db.session.execute(delete(LoginFailure).where(LoginFailure.at < since))
    same_email, same_address = LoginFailure.email == email, LoginFailure.address == address
    wait = max(
        _wait_seconds(and_(same_email, same_address), budget, now, since),
        _wait_seconds(same_email, budget * ACCOUNT_FACTOR, now, since),
        _wait_seconds(same_address, budget * ADDRESS_FACTOR, now, since),
    )
    if wait > 0:
        db.session.commit()
        raise RateLimited(f"too many failed logins; try again in {math.ceil(wait)} seconds")
    user = db.session.execute(select(User).where(User.email == email)).scalar_one_or_none()
    ok = check_password(user.password_hash if user else _DUMMY_HASH, password[:MAX_PASSWORD_LENGTH])
    if user is None or not ok or not user.active:
        db.session.add(LoginFailure(email=email, address=address, at=now))
        db.session.commit()
        return None
    db.session.execute(delete(LoginFailure).where(same_email, same_address))
    db.session.commit()
    return user


def issue_api_token(user: User) -> str:
    """Replace the user's API token; the returned token is shown once and never stored."""
    token, digest, hint = new_api_token()
    user.api_token_hash = digest
    user.api_token_hint = hint
    db.session.commit()
    return token


def revoke_api_token(user: User) -> None:
    user.api_token_hash = None
    user.api_token_hint = None
    db.session.commit()


def user_for_api_token(token: str) -> User | None:
    if not token or len(token) > 128:
        return None
    user = db.session.execute(
        select(User).where(User.api_token_hash == token_hash(token))
    ).scalar_one_or_none()
    return user if user is not None and user.active else None


def end_sessions(user: User) -> None:
    """Log the user out everywhere: session cookies issued before no longer load the user."""
    user.session_generation += 1
    db.session.commit()


def change_password(user: User, current: str, new: str) -> None:
    """Needs the current password; ends every session of the user (log the caller in again)."""
    if not check_password(user.password_hash, current[:MAX_PASSWORD_LENGTH]):
        raise InvalidInput("the current password is wrong")
    _check_length(new)
    user.password_hash = hash_password(new)
    end_sessions(user)


def load_user(session_id: str) -> User | None:
    """The user a session cookie names, if active and the cookie is of the current generation."""
    user_id, _, generation = session_id.partition(":")
    try:
        user = db.session.get(User, int(user_id))
    except ValueError:
        return None
    if user is None or not user.active or generation != str(user.session_generation):
        return None
    return user
