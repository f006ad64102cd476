"""The stdlib-only programs roost runs on a machine (``python3 - ARGS``) to snapshot and restore
an app's data. They never stop the app: SQLite's online backup API copies a consistent
snapshot while Label Studio keeps writing."""

SNAPSHOT = r'''
import gzip, hashlib, json, os, shutil, sqlite3, sys, tarfile, time
data, out, backup_id, app, machine = sys.argv[1:6]
os.makedirs(out, exist_ok=True)
db = os.path.join(data, "label_studio.sqlite3")
snap = os.path.join(out, "database.sqlite3")
source = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=60)
target = sqlite3.connect(snap)
with target:
    source.backup(target)
count = target.execute("select count(*) from task_completion").fetchone()[0]
target.close(); source.close()
with open(snap, "rb") as raw, gzip.open(snap + ".gz", "wb", compresslevel=6) as packed:
    shutil.copyfileobj(raw, packed, 1 << 20)
os.unlink(snap)
with tarfile.open(os.path.join(out, "media.tar.gz"), "w:gz") as tar:
    media = os.path.join(data, "media")
    if os.path.isdir(media):
        tar.add(media, arcname="media")
files = {}
for name in ("database.sqlite3.gz", "media.tar.gz"):
    digest, size = hashlib.sha256(), 0
    with open(os.path.join(out, name), "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block); size += len(block)
    files[name] = {"sha256": digest.hexdigest(), "bytes": size}
manifest = {"format": 1, "id": backup_id, "machine": machine, "app": app, "created_at": time.time(),
            "annotations": count, "files": files}
with open(os.path.join(out, "manifest.json"), "w") as handle:
    json.dump(manifest, handle, indent=1)
print(json.dumps(manifest))
'''

RESTORE = r'''
import gzip, os, shutil, sys, tarfile, time
data, incoming, aside = sys.argv[1:4]
if os.path.isdir(data) and aside != "-":
    os.rename(data, aside)
elif os.path.isdir(data):
    shutil.rmtree(data)
partial = data + ".restoring"
shutil.rmtree(partial, ignore_errors=True)
os.makedirs(partial)
with gzip.open(os.path.join(incoming, "database.sqlite3.gz"), "rb") as packed, \
        open(os.path.join(partial, "label_studio.sqlite3"), "wb") as raw:
    shutil.copyfileobj(packed, raw, 1 << 20)
with tarfile.open(os.path.join(incoming, "media.tar.gz"), "r:gz") as tar:
    for member in tar.getmembers():
        if member.name.startswith(("/", "..")) or "/../" in member.name or not (member.isfile() or member.isdir()):
            sys.exit(f"refusing unsafe member {member.name!r} in media.tar.gz")
    tar.extractall(partial)
for extra in (".env",):
    old = os.path.join(aside, extra) if aside != "-" else ""
    if old and os.path.exists(old):
        shutil.copy2(old, os.path.join(partial, extra))
os.rename(partial, data)
shutil.rmtree(incoming)
print("restored")
'''

DATA_STAMP = r'''
import os, sys
db = os.path.join(sys.argv[1], "label_studio.sqlite3")
print(os.path.getmtime(db) if os.path.exists(db) else 0)
'''
