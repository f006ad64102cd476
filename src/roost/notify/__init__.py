"""Notifications: where a machine's events go (apprise URLs), checked before anything is made."""
