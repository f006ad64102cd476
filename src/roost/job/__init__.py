"""Training jobs: ``roost run`` on one machine (``run``) or several (``multinode``), moved
to another host when one is lost (``recovery``); listing, logs and cancel (``manage``)."""
