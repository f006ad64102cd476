"""Backup benchmark: `roost backup` and `roost restore` of a Label Studio with 10,000 annotations.

On the local backend (a new ROOST_HOME; SQLite): a project with 10,000 tasks (imported
through the REST API) and one annotation each (written in bulk through Label Studio's own
Django models, since 10,000 API calls would measure the API, not backups). Then, timed:
  backup   - `roost.backup()`: online snapshot while the app runs, media, manifest,
             copy into the store, verify;
  restore  - `roost.restore(--force)`: verify, copy, stop the app, put the data in place
             (old data kept aside), start the app and wait until it is healthy;
  baseline - copying the live database file with `cp` (same run, same disk): what the
             bytes alone cost.
The restored app's API must report all 10,000 annotations. Prints name=value lines.

With ``--database postgres`` the machine is an SSH test host made for the run (root needed:
sshd in a network namespace, ``tests/harness``), as PostgreSQL does not run as root; the
baseline is then a bare ``pg_dump`` of the same database on the machine.

    python bench/backup.py [--annotations 10000] [--database sqlite|postgres]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

BULK = """
import os, sys
import label_studio
sys.path.insert(0, os.path.dirname(label_studio.__file__))
from label_studio.server import _setup_env
_setup_env()
import django
django.setup()
from tasks.models import Annotation, Task
from users.models import User
project, email = int(sys.argv[1]), sys.argv[2]
user = User.objects.get(email=email)
result = [{"from_name": "label", "to_name": "text", "type": "choices", "value": {"choices": ["pos"]}}]
tasks = list(Task.objects.filter(project_id=project).order_by("id"))
Annotation.objects.bulk_create([Annotation(task=t, project_id=project, completed_by=user, result=result)
                                for t in tasks], batch_size=2000)
Task.objects.filter(project_id=project).update(is_labeled=True, total_annotations=1)
print(Annotation.objects.filter(project_id=project).count())
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--annotations", type=int, default=10_000)
    parser.add_argument("--database", choices=("sqlite", "postgres"), default="sqlite")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="roost-bench-backup-") as work:
        os.environ["ROOST_HOME"] = f"{work}/home"
        if args.database == "sqlite":
            run(args.annotations, "label-studio")
            return
        from tests.harness.testhosts import TestHosts

        hosts = TestHosts(1, prefix=f"b{os.getpid() % 1000:03d}x", net="10.253.0", directory=Path(work) / "hosts")
        hosts.up()
        try:
            host = hosts.hosts[0]
            spec = Path(work) / "bench.yaml"
            spec.write_text(
                json.dumps(
                    {
                        "name": "benchls",
                        "backend": "ssh",
                        "app": {"type": "label-studio", "database": "postgres"},
                        "hosts": [
                            {
                                "address": host.ip,
                                "user": host.user,
                                "key": host.key,
                                "host_key": host.host_key_fingerprint,
                            }
                        ],
                    }
                )
            )
            run(args.annotations, str(spec))
        finally:
            hosts.down()


def run(count: int, target: str) -> None:
    import roost
    from roost.apps.label_studio import admin_email
    from roost.session import load_session
    from tests.label_studio_client import LabelStudioSession

    name = "benchls"
    up = roost.up(target, name=name)
    try:
        admin = LabelStudioSession(up.url or "")
        assert admin.login(admin_email(name), roost.password(name))
        project = admin.create_project("benchmark")
        admin.import_tasks(project, [f"text number {i}, long enough to look like a sentence" for i in range(count)])
        session = load_session(name)
        ctx, driver = session.context(), session.driver
        assert driver is not None
        definition = driver.definition(ctx)
        made = ctx.runner.run(
            [f"{driver.venv(ctx)}/bin/python", "-c", BULK, str(project), admin_email(name)],
            env=definition.env,
            cwd=definition.cwd,
            timeout=1800,
        )
        made.check("write the annotations")
        assert int(made.stdout.strip().splitlines()[-1]) == count
        config = driver.backup_config(ctx)
        if config["postgres"]:
            pg = config["postgres"]
            bare = [
                f"{pg['bindir']}/pg_dump",
                "--format=custom",
                "--compress=6",
                "-h",
                pg["socket"],
                "-p",
                str(pg["port"]),
                "-U",
                pg["user"],
                "-d",
                pg["db"],
                "-f",
                f"{ctx.home}/bare.pgdump",
            ]
            label = "pg_dump_baseline_seconds"
        else:
            database = f"{driver.data_dir(ctx.home)}/label_studio.sqlite3"
            bare, label = ["cp", database, f"{ctx.home}/copy.sqlite3"], "copy_baseline_seconds"
        started = time.perf_counter()
        ctx.runner.run(bare, timeout=600).check("the baseline copy")
        baseline = time.perf_counter() - started
        started = time.perf_counter()
        info = roost.backup(name)
        backup_seconds = time.perf_counter() - started
        assert info.annotations == count, info
        started = time.perf_counter()
        roost.restore(name, info.id, force=True)
        restore_seconds = time.perf_counter() - started
        after = LabelStudioSession(roost.status(name)[0].url or "")
        assert after.login(admin_email(name), roost.password(name))
        status, body = after.request("GET", f"/api/projects/{project}")
        assert status == 200 and body["total_annotations_number"] == count, body  # type: ignore[index]
        print(f"annotations={count}")
        print(f"database={info.database}")
        print(f"backup_mb={info.bytes / 1e6:.2f}")
        print(f"backup_seconds={backup_seconds:.2f}")
        print(f"restore_seconds={restore_seconds:.2f}")
        print(f"{label}={baseline:.3f}")
        print(f"backup_vs_baseline_ratio={backup_seconds / max(baseline, 1e-6):.1f}")
    finally:
        roost.down(name, no_backup=True)


if __name__ == "__main__":
    main()
