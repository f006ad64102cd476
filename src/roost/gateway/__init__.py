"""The gateway: Caddy on the machine in front of a shared app or a service's replicas, with
TLS, a login and the load balancer (``site``)."""
