"""Errors of the Cloudflare client; messages carry Cloudflare's codes, never the API token."""

from __future__ import annotations


class CloudflareError(Exception):
    """A Cloudflare API call failed; ``codes`` are Cloudflare's error codes (e.g. 81058)."""

    def __init__(self, message: str, *, status: int | None = None, codes: tuple[int, ...] = ()) -> None:
        super().__init__(message)
        self.status = status
        self.codes = codes


class CloudflareAuthError(CloudflareError):
    """The token is missing, malformed, invalid or lacks a permission (do not retry)."""


class CloudflareNotFound(CloudflareError):
    """The zone or record does not exist."""
