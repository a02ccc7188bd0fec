"""Doubles of the APIs that cannot run here (Hostwinds, Cloudflare, Mailu's API, Vault).

Each double follows its service's published contract to the letter and says it is a double
in every response header (`X-Mailfleet-Double`).
"""
