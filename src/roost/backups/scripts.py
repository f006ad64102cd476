"""The stdlib-only programs roost runs on a machine to snapshot and restore an app's data.

Each takes one JSON argument. None stops the app: SQLite's online backup API, or
``pg_dump`` (one transaction's snapshot), copies a consistent state while Label Studio
keeps writing. SNAPSHOT is also installed on the machine for the agent's scheduled
backups, which is why it names, writes and prunes backups by itself.
"""

SNAPSHOT = r"""
import gzip, hashlib, json, os, secrets, shutil, sqlite3, subprocess, sys, tarfile, time
cfg = json.loads(sys.argv[1])
data, root, pg = cfg["data"], cfg["out_root"], cfg.get("postgres")
started = time.time()
backup_id = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(started)) + "-" + secrets.token_hex(3)
os.makedirs(root, mode=0o700, exist_ok=True)
out = os.path.join(root, backup_id + ".partial")
os.makedirs(out, mode=0o700)

def run(argv):
    env = dict(os.environ, PGHOST=pg["socket"], PGPORT=str(pg["port"]), PGUSER=pg["user"])
    done = subprocess.run(argv, env=env, capture_output=True, text=True)
    if done.returncode:
        sys.exit(f"{os.path.basename(argv[0])} failed: {done.stderr.strip()[-800:]}")
    return done.stdout

try:
    if pg:
        dump = os.path.join(out, "database.pgdump")
        run([pg["bindir"] + "/pg_dump", "--format=custom", "--compress=6", "--no-owner", "-d", pg["db"], "-f", dump])
        table = run([pg["bindir"] + "/pg_restore", "--data-only", "--table=task_completion", "-f", "-", dump])
        rows, inside = 0, False
        for line in table.splitlines():
            if line.startswith("COPY "):
                inside = True
            elif line == "\\.":
                inside = False
            elif inside:
                rows += 1
        count, names = rows, ["database.pgdump"]
    else:
        snap = os.path.join(out, "database.sqlite3")
        sqlite_file = cfg.get("sqlite_file", "label_studio.sqlite3")
        source = sqlite3.connect(f"file:{os.path.join(data, sqlite_file)}?mode=ro", uri=True, timeout=60)
        target = sqlite3.connect(snap)
        with target:
            source.backup(target)
        count = target.execute(cfg.get("count_sql", "select count(*) from task_completion")).fetchone()[0]
        target.close(); source.close()
        with open(snap, "rb") as raw, gzip.open(snap + ".gz", "wb", compresslevel=6) as packed:
            shutil.copyfileobj(raw, packed, 1 << 20)
        os.unlink(snap)
        names = ["database.sqlite3.gz"]
    with tarfile.open(os.path.join(out, "media.tar.gz"), "w:gz") as tar:
        media = os.path.join(data, "media")
        if os.path.isdir(media):
            tar.add(media, arcname="media")
    files = {}
    for name in names + ["media.tar.gz"]:
        digest, size = hashlib.sha256(), 0
        with open(os.path.join(out, name), "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block); size += len(block)
        files[name] = {"sha256": digest.hexdigest(), "bytes": size}
    manifest = {"format": 2, "id": backup_id, "machine": cfg["machine"], "app": cfg["app"],
                "database": "postgres" if pg else "sqlite", "kind": cfg["kind"], "started_at": started,
                "created_at": time.time(), "annotations": count, "files": files}
    with open(os.path.join(out, "manifest.json"), "w") as handle:
        json.dump(manifest, handle, indent=1)
    os.rename(out, os.path.join(root, backup_id))
except BaseException:
    shutil.rmtree(out, ignore_errors=True)
    raise
keep = cfg.get("keep")
if keep:
    same_kind = []
    for entry in sorted(os.listdir(root)):
        try:
            with open(os.path.join(root, entry, "manifest.json")) as handle:
                if json.load(handle).get("kind") == cfg["kind"]:
                    same_kind.append(entry)
        except (OSError, ValueError):
            continue
    for entry in same_kind[:-keep]:
        shutil.rmtree(os.path.join(root, entry), ignore_errors=True)
print(json.dumps(manifest))
"""

RESTORE = r"""
import gzip, os, pwd, shutil, subprocess, sys, tarfile, json, time
cfg = json.loads(sys.argv[1])
data, incoming, aside, pg = cfg["data"], cfg["incoming"], cfg["aside"], cfg.get("postgres")
partial = data + ".restoring"
shutil.rmtree(partial, ignore_errors=True)
os.makedirs(partial, mode=0o700)

def run(argv, **extra):
    done = subprocess.run(argv, capture_output=True, text=True, **extra)
    if done.returncode:
        sys.exit(f"{os.path.basename(argv[0])} failed: {(done.stdout + done.stderr).strip()[-800:]}")

if pg:
    cluster = os.path.join(partial, "postgres")
    run([pg["bindir"] + "/initdb", "-D", cluster, "-U", pg["user"], "--auth-local=peer", "--auth-host=reject",
         "-E", "UTF8", "--no-locale"])
    with open(os.path.join(cluster, "pg_hba.conf"), "w") as handle:  # as apps/postgres.py: peer, this user
        handle.write("local all all peer map=roost\n")
    with open(os.path.join(cluster, "pg_ident.conf"), "w") as handle:
        handle.write(f"roost {pwd.getpwuid(os.getuid()).pw_name} {pg['user']}\n")
    os.makedirs(pg["socket"], mode=0o700, exist_ok=True)
    options = (f"-c listen_addresses='' -c unix_socket_directories='{pg['socket']}' "
               f"-c unix_socket_permissions=0700 -p {pg['port']}")
    run([pg["bindir"] + "/pg_ctl", "-D", cluster, "-o", options, "-l", os.path.join(partial, "restore-pg.log"),
         "-w", "-t", "120", "start"])
    try:
        env = dict(os.environ, PGHOST=pg["socket"], PGPORT=str(pg["port"]), PGUSER=pg["user"])
        run([pg["bindir"] + "/createdb", pg["db"]], env=env)
        run([pg["bindir"] + "/pg_restore", "--no-owner", "--exit-on-error", "-d", pg["db"],
             os.path.join(incoming, "database.pgdump")], env=env)
    finally:
        run([pg["bindir"] + "/pg_ctl", "-D", cluster, "-m", "fast", "-w", "stop"])
else:
    with gzip.open(os.path.join(incoming, "database.sqlite3.gz"), "rb") as packed, \
            open(os.path.join(partial, cfg.get("sqlite_file", "label_studio.sqlite3")), "wb") as raw:
        shutil.copyfileobj(packed, raw, 1 << 20)
with tarfile.open(os.path.join(incoming, "media.tar.gz"), "r:gz") as tar:
    for member in tar.getmembers():
        parts = member.name.split("/")
        if member.name.startswith("/") or ".." in parts or not (member.isfile() or member.isdir()):
            sys.exit(f"refusing unsafe member {member.name!r} in media.tar.gz")
    if hasattr(tarfile, "data_filter"):  # Python 3.8.17+ / 3.11.4+: the standard library's own checks too
        tar.extractall(partial, filter="data")
    else:
        tar.extractall(partial)
if os.path.isdir(data):
    os.rename(data, aside)
    if os.path.exists(os.path.join(aside, ".env")):  # this machine's own secret key stays
        shutil.copy2(os.path.join(aside, ".env"), os.path.join(partial, ".env"))
    if cfg.get("carry_except") is not None:  # all but the database stays (a server's keys and token)
        for name in os.listdir(aside):
            source, kept = os.path.join(aside, name), os.path.join(partial, name)
            if name in cfg["carry_except"] or os.path.lexists(kept) or os.path.islink(source):
                continue
            (shutil.copytree if os.path.isdir(source) else shutil.copy2)(source, kept)
os.rename(partial, data)
shutil.rmtree(incoming)
print("restored")
"""

DATA_STAMP = r"""
import json, os, subprocess, sys
cfg = json.loads(sys.argv[1])
data, pg = cfg["data"], cfg.get("postgres")
stamp = 0.0
if pg:
    env = dict(os.environ, PGHOST=pg["socket"], PGPORT=str(pg["port"]), PGUSER=pg["user"])
    done = subprocess.run([pg["bindir"] + "/psql", "-d", pg["db"], "-Atc",
                           "select extract(epoch from (pg_last_committed_xact()).timestamp)"],
                          env=env, capture_output=True, text=True)
    if done.returncode == 0 and done.stdout.strip():
        stamp = float(done.stdout.strip())
    else:  # the server is down: the newest file of the cluster says when it last wrote
        for folder, _, names in os.walk(os.path.join(data, "postgres")):
            for name in names:
                try:
                    stamp = max(stamp, os.path.getmtime(os.path.join(folder, name)))
                except OSError:
                    pass
else:
    db = os.path.join(data, cfg.get("sqlite_file", "label_studio.sqlite3"))
    stamp = os.path.getmtime(db) if os.path.exists(db) else 0.0
print(stamp)
"""

# The whole backups in one folder, as a JSON list of names (never parsed from `ls`: a folder
# name may hold spaces, newlines or "..", and the client checks every name it is given).
LIST_WHOLE = r"""
import json, os, sys
root = sys.argv[1]
names = []
if os.path.isdir(root):
    for name in sorted(os.listdir(root)):
        path = os.path.join(root, name)
        whole = os.path.isfile(os.path.join(path, "manifest.json"))
        if whole and not name.endswith(".partial") and not os.path.islink(path):
            names.append(name)
print(json.dumps(names))
"""
