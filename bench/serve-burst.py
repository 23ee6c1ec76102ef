#!/usr/bin/env python3
"""Load benchmark of `gantry serve`: N GitLab push webhooks in one burst (each to its own
branch, so none supersedes another) at a server whose pipeline is one `true` job, or, with
`--jobs J`, a build job and J-1 jobs that need it.

With `--executor kubernetes` every job is a pod on a real cluster: `--kubeconfig FILE`, else the
one `GANTRY_TEST_KUBECONFIG` names (the project's test cluster: `testing/cluster/up.sh DIR` starts
it and writes DIR/kubeconfig). `--image` must be on the cluster's nodes, e.g.
`gantry-test/busybox:1` as the tests build and load it (`GANTRY_TEST_LOAD_IMAGE`).

Reports: webhooks accepted per second, queue latency (created -> running) percentiles, time
until every pipeline finished, peak and final resident memory of the server, and checks that
every accepted webhook has its pipeline row (nothing lost).

usage: bench/serve-burst.py [--binary target/release/gantry] [--count 500] [--clients 50]
                            [--concurrency 4] [--workdir target/bench-serve] [--jobs 1]
                            [--executor shell|kubernetes] [--kubeconfig FILE]
                            [--image IMAGE] [--job-concurrency N]
The work directory must be on a real disk (not tmpfs)."""

import argparse, concurrent.futures as cf, http.client, json, os, re, shutil, subprocess, sys, time

p = argparse.ArgumentParser()
p.add_argument("--binary", default="target/release/gantry")
p.add_argument("--count", type=int, default=500)
p.add_argument("--clients", type=int, default=50)
p.add_argument("--concurrency", type=int, default=4)
p.add_argument("--workdir", default="target/bench-serve")
p.add_argument("--jobs", type=int, default=1)
p.add_argument("--executor", default="shell", choices=["shell", "kubernetes"])
p.add_argument("--kubeconfig")
p.add_argument("--image")
p.add_argument("--job-concurrency", type=int)
a = p.parse_args()
if a.executor == "kubernetes":
    a.kubeconfig = a.kubeconfig or os.environ.get("GANTRY_TEST_KUBECONFIG")
    if not a.kubeconfig:
        p.error("--executor kubernetes needs a cluster: --kubeconfig FILE or GANTRY_TEST_KUBECONFIG "
                "(start the test cluster with `sudo testing/cluster/up.sh DIR`; it writes DIR/kubeconfig)")
    if not a.image:
        p.error("--executor kubernetes needs --image (on the cluster's nodes)")

TOKEN, SECRET = "bench-token", "bench-secret"
work = os.path.abspath(a.workdir)
shutil.rmtree(work, ignore_errors=True)
repo = os.path.join(work, "repo")
os.makedirs(repo)
git = lambda *args: subprocess.run(["git", "-c", "user.name=b", "-c", "user.email=b@x", "-c", "init.defaultBranch=main", *args],
                                   cwd=repo, check=True, capture_output=True, text=True).stdout.strip()
git("init", "-q")
image = f"  image: {a.image}\n" if a.image else ""
if a.jobs == 1:
    pipeline = f"job:\n{image}  script: [\"true\"]\n"
else:
    pipeline = f"stages: [build, test]\nbuild:\n  stage: build\n{image}  script: [\"true\"]\n" + "".join(
        f"test-{j}:\n  stage: test\n  needs: [build]\n{image}  script: [\"true\"]\n" for j in range(1, a.jobs))
open(os.path.join(repo, ".gitlab-ci.yml"), "w").write(pipeline)
git("add", ".")
git("commit", "-qm", "bench")
sha = git("rev-parse", "HEAD")

kubeconfig = a.kubeconfig if a.executor == "kubernetes" else None
cluster = ["--kubeconfig", kubeconfig] if kubeconfig else []
config = os.path.join(work, "serve.toml")
open(config, "w").write(
    f'[[repository]]\nname = "bench/app"\nsource = "{repo}"\nexecutor = "{a.executor}"\n'
    f'concurrency = {a.concurrency}\n' + (f"jobs = {a.job_concurrency}\n" if a.job_concurrency else "")
    + (f'kubeconfig = "{kubeconfig}"\n' if kubeconfig else ""))
server = subprocess.Popen(
    [a.binary, "serve", "--config", config, "--listen", "127.0.0.1:0", "--data-dir", os.path.join(work, "data"),
     "--webhook-secret", SECRET, "--api-token", TOKEN,
     "--concurrency", str(a.concurrency), "--queue-limit", str(a.count + 10)],
    stdout=subprocess.PIPE, stderr=open(os.path.join(work, "server.log"), "w"), text=True)
addr = None
for line in server.stdout:
    m = re.search(r"listening on http://(\S+)", line)
    if m:
        addr = m.group(1)
        break
host, port = addr.rsplit(":", 1)

def rss():
    status = open(f"/proc/{server.pid}/status").read()
    get = lambda k: int(re.search(rf"{k}:\s+(\d+) kB", status).group(1)) / 1024
    return get("VmRSS"), get("VmHWM")

def req(method, path, body=None, headers=None):
    c = http.client.HTTPConnection(host, int(port), timeout=120)
    c.request(method, path, body=body, headers=headers or {})
    r = c.getresponse()
    data = r.read()
    c.close()
    return r.status, data

def hook(i):
    body = json.dumps({"object_kind": "push", "ref": f"refs/heads/b{i}", "before": "0" * 40, "after": sha,
                       "checkout_sha": sha, "user_username": "bench", "project": {"path_with_namespace": "bench/app"}})
    t = time.perf_counter()
    status, data = req("POST", "/hooks/gitlab", body, {"X-Gitlab-Token": SECRET, "Content-Type": "application/json"})
    return status, (json.loads(data)["id"] if status == 201 else None), time.perf_counter() - t

idle_rss, _ = rss()
start = time.perf_counter()
with cf.ThreadPoolExecutor(a.clients) as ex:
    results = list(ex.map(hook, range(a.count)))
burst = time.perf_counter() - start
accepted = [r for r in results if r[0] == 201]
ids = [r[1] for r in accepted]
auth = {"Authorization": f"Bearer {TOKEN}"}

def terminal():
    n = 0
    for st in ("success", "failed", "canceled", "skipped"):
        _, data = req("GET", f"/api/v1/pipelines?status={st}&per_page=1", headers=auth)
        n += json.loads(data)["total"]
    return n

while terminal() < len(ids):
    time.sleep(0.2)
drained = time.perf_counter() - start
final_rss, peak_rss = rss()

def parse(t):
    h, m, s = t[11:13], t[14:16], t[17:23]
    return int(h) * 3600 + int(m) * 60 + float(s)

lat, lost, statuses = [], 0, {}
for pid in ids:
    status, data = req("GET", f"/api/v1/pipelines/{pid}", headers=auth)
    if status != 200:
        lost += 1
        continue
    pl = json.loads(data)
    statuses[pl["status"]] = statuses.get(pl["status"], 0) + 1
    lat.append(parse(pl["started_at"]) - parse(pl["created_at"]))
_, data = req("GET", "/api/v1/pipelines?per_page=1", headers=auth)
total_rows = json.loads(data)["total"]
server.terminate()
server.wait(timeout=60)

lat.sort()
pct = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))] if lat else float("nan")
resp = sorted(r[2] for r in results)
print(f"pipeline                 {a.jobs} job(s), {a.executor} executor" + (f" on {kubeconfig}" if kubeconfig else ""))
print(f"webhooks sent            {a.count} ({a.clients} clients)")
print(f"accepted (201)           {len(accepted)}")
print(f"burst wall time          {burst:.2f} s  -> {len(accepted) / burst:.0f} accepted/s")
print(f"webhook response p50/p99 {resp[len(resp) // 2] * 1000:.1f} / {resp[int(len(resp) * .99)] * 1000:.1f} ms")
print(f"all pipelines finished   {drained:.2f} s after the burst began ({len(ids) / drained:.1f} pipelines/s), statuses {statuses}")
print(f"queue latency p50/p95/max {pct(.5):.2f} / {pct(.95):.2f} / {lat[-1] if lat else float('nan'):.2f} s")
print(f"server memory            idle {idle_rss:.0f} MiB, peak {peak_rss:.0f} MiB, after {final_rss:.0f} MiB")
print(f"rows                     {total_rows} pipeline rows for {len(accepted)} accepted webhooks; {lost} missing")
sys.exit(0 if lost == 0 and total_rows == len(accepted) else 1)
