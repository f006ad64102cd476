"""A service's steps in ``up``: workers, capacity, replicas, routes, balancer, controller.

Replicas run under the agent on fixed ports, Caddy balances over them with health checks,
and the controller on the machine keeps them healthy (and autoscales) afterwards.
"""

from __future__ import annotations

from collections.abc import Callable

from roost.gateway import site as gateway
from roost.machine.steps import Step
from roost.service import routes
from roost.service.capacity import check_capacity
from roost.service.controller import pause_controller, serving_ports, start_controller
from roost.service.placement import worker_spec
from roost.service.replicas import Replicas
from roost.session import MachineSession
from roost.spec.model import Spec


def steps(session: MachineSession, up_workers: Callable[[list[Spec]], object]) -> list[Step]:
    """Bring the worker machines up (``up_workers`` brings machines up from their specs, side by side), start
    (or roll) the replicas, then the balancer over them (then its CA, when shared), then the
    controller that keeps them healthy."""
    spec = session.record.spec
    assert spec.service and session.driver
    service, ports = spec.service, []
    routes_before, routes_after = routes.steps(session)
    keeper = (
        f"start the autoscaler ({service.min}-{service.max} replicas, {service.target_rps:g} requests/s each)"
        if service.autoscaled
        else "start the controller (keeps every replica healthy)"
    )
    return [
        *(
            [
                Step(
                    "workers",
                    f"bring up {service.machines - 1} worker machine(s)",
                    lambda: up_workers([worker_spec(spec, index) for index in range(1, service.machines)]),
                    always=True,
                )
            ]
            if service.machines > 1
            else []
        ),
        Step("capacity", "check the machines hold every replica", lambda: check_capacity(session), always=True),
        Step(
            "controller-pause",
            "take the replicas back from the controller",
            lambda: pause_controller(session),
            always=True,
        ),
        *routes_before,
        Step(
            "replicas",
            f"start {service.initial} replica(s) of {session.driver.name}",
            lambda: ports.extend(Replicas(session).converge()),
            always=True,
        ),
        Step(
            "gateway",
            "start the load balancer",
            lambda: gateway.configure(session, ports, routes.upstreams(session)),
            always=True,
        ),
        *routes_after,
        *(gateway.steps(session)[1:] if spec.share else []),
        Step("controller", keeper, lambda: start_controller(session), always=True),
    ]


def configure_balancer(session: MachineSession) -> None:
    """Apply the gateway's config over the replicas that serve now (after a change of users)."""
    gateway.configure(session, serving_ports(session), routes.upstreams(session))
