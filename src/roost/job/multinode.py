"""Multi-node jobs: one job on N machines at once, wired together like torch.distributed expects.

Node ``r`` of a spec named NAME is the machine ``NAME-r`` (on the spec's r-th host for SSH;
on AWS one instance each, all in the cluster NAME, reached at their private addresses).
Every node gets ROOST_NODE_RANK, ROOST_NUM_NODES, ROOST_NODE_IPS, MASTER_ADDR, MASTER_PORT
(and RANK / WORLD_SIZE). The job starts on all and ends when all end; when one fails, the
others are cancelled.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

from roost.errors import RoostError
from roost.job.common import JobResult, LogFollower, download_outputs, job_request
from roost.lifecycle import machines as lifecycle
from roost.progress import Progress
from roost.session import MachineSession, load_session
from roost.spec.model import BackendKind, Spec


def node_specs(spec: Spec) -> list[Spec]:
    """The spec of each node: NAME-r, one host each."""
    # on AWS the nodes are one cluster: a security group lets them reach each other
    cluster = {"aws": spec.aws.model_copy(update={"cluster": spec.name})} if spec.backend is BackendKind.aws else {}
    return [
        spec.part(
            f"{spec.name}-{rank}",
            what="node",
            host=rank if spec.backend is BackendKind.ssh else None,
            num_nodes=1,
            **cluster,
        )
        for rank in range(spec.num_nodes)
    ]


def run(
    spec: Spec,
    *,
    down: bool,
    progress: Progress,
    on_output: Callable[[str], None] | None,
    accept_new_host_key: bool,
    outputs_root: Path,
) -> JobResult:
    """Bring every node up, start the job on all, stream their logs, end together."""
    nodes = node_specs(spec)
    lifecycle.up_all(nodes, progress=progress, accept_new_host_key=accept_new_host_key)
    sessions = [load_session(node.name) for node in nodes]
    addresses = [session.backend.peer_address(session.record) for session in sessions]
    master_port = sessions[0].agent.free_port()
    job_ids = []
    for rank, session in enumerate(sessions):
        env = {
            "ROOST_NODE_RANK": str(rank),
            "ROOST_NUM_NODES": str(len(nodes)),
            "ROOST_NODE_IPS": ",".join(addresses),
            "MASTER_ADDR": addresses[0],
            "MASTER_PORT": str(master_port),
            "RANK": str(rank),
            "WORLD_SIZE": str(len(nodes)),
        }
        job_ids.append(session.agent.submit_job(job_request(session, env)))
    progress.info(f"job on {len(nodes)} nodes: " + ", ".join(f"{n.name}:{j}" for n, j in zip(nodes, job_ids)))
    try:
        states = _follow_all(sessions, job_ids, on_output, progress)
    finally:
        if down:
            for node in nodes:
                lifecycle.down(node.name)
    # the node that failed by itself, before those cancelled because of it
    failures = [code if code else 1 for state, code in states if state == "failed"] + [
        code if code else 1 for state, code in states if state == "cancelled"
    ]
    result = JobResult(
        machine=nodes[0].name,
        job=job_ids[0],
        state="failed" if failures else "succeeded",
        exit_code=failures[0] if failures else 0,
        machine_down=down,
    )
    if spec.outputs and not down:
        result.outputs, result.missing_outputs = download_outputs(sessions[0], job_ids[0], outputs_root)
    return result


def _stream_node(session: MachineSession, job_id: str, show: Callable[[str], None], progress: Progress) -> None:
    """Stream one node's job log through ``show`` to its end. A stream cut short (a dropped
    connection, a killed reader) picks up at the byte it reached; after LOG_TRIES cuts in a
    row without progress, a warning says how to read on (the job itself goes on)."""
    log, trouble = LogFollower(session, job_id, show), ""
    while not log.given_up:
        try:
            result = log.follow()
        except RoostError as exc:
            trouble = exc.message
        else:
            if result.ok:
                return
            trouble = (result.stderr.strip().splitlines() or [f"exit code {result.exit_code}"])[-1]
        time.sleep(1.0)
    name = session.record.spec.name
    progress.info(
        f"warning: {name}'s log stopped ({trouble}); `roost logs {name} {job_id} -f --offset {log.offset}` reads on"
    )


def _follow_all(
    sessions: list[MachineSession], job_ids: list[str], on_output: Callable[[str], None] | None, progress: Progress
) -> list[tuple[str, int | None]]:
    """Stream every node's log (prefixed with its rank); cancel the rest when one fails."""
    lock = threading.Lock()

    def stream(rank: int) -> None:
        def show(line: str) -> None:
            if on_output is not None:
                with lock:
                    on_output(f"[node {rank}] {line}")

        _stream_node(sessions[rank], job_ids[rank], show, progress)

    threads = [threading.Thread(target=stream, args=(rank,), daemon=True) for rank in range(len(sessions))]
    for thread in threads:
        thread.start()
    cancelled = False
    while True:
        statuses = [session.agent.job(job) for session, job in zip(sessions, job_ids)]
        if all(status.ended for status in statuses):
            break
        if not cancelled and any(status.ended and status.state != "succeeded" for status in statuses):
            progress.info("a node's job failed: cancelling the others")
            for session, status in zip(sessions, statuses):
                if not status.ended:
                    session.agent.cancel(status.id)
            cancelled = True
        time.sleep(0.5)
    for thread in threads:
        thread.join(timeout=30)
    return [(status.state, status.exit_code) for status in statuses]
