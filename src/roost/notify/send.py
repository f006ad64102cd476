"""Send one event to notify targets with apprise (the server's and `roost watch`'s notifications)."""

from __future__ import annotations

import logging

log = logging.getLogger("roost.notify")


def send(urls: list[str], title: str, body: str) -> bool:
    """Deliver ``title``/``body`` to every URL; True when apprise delivered to all of them.

    The body is what roost would print: it never holds a secret. A failure is logged by
    target index, never by URL (a URL may hold a token)."""
    import apprise  # start-up time (~0.4 s): only notifying code needs it

    ok = True
    for index, url in enumerate(urls):
        sender = apprise.Apprise()
        if not sender.add(url) or not sender.notify(title=title, body=body):
            log.warning("notify: target %d did not take the event '%s'", index, title)
            ok = False
    return ok
