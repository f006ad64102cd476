"""Services: an app as replicas behind the gateway's load balancer (``service:`` in a spec).

The replicas (:mod:`roost.service.replicas`) run on the spec's machine, or spread over worker
machines (:mod:`roost.service.placement`); path routes add replica groups (:mod:`roost.service.routes`).
The gateway (Caddy) balances over them with an active probe, passive failure detection and
retries, so a dead replica gets no traffic; a new replica set reaches Caddy through its
admin API as a graceful reload, which keeps open connections. Not shared, the balancer
listens on the machine's 127.0.0.1 (reached through roost's tunnel); shared, on 443 with
TLS and a login, as any shared app. A controller under the agent keeps them healthy
(:mod:`roost.service.controller`); ``roost serve status`` is :mod:`roost.service.status`. The
verbs (``roost serve``, ``serve update``) are in :mod:`roost.lifecycle.services`.
"""
