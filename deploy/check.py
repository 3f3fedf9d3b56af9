#!/usr/bin/env python3
"""Checks the deployment configs under deploy/ without a cluster (scripts/check-deploy
runs this with its tools installed):

- Kubernetes: every overlay rendered by kustomize (`kubectl kustomize`); every
  built-in object validated against the Kubernetes schemas (kubernetes-validate,
  strict, Kubernetes K8S_VERSION); every custom resource (KEDA, CloudNativePG,
  Prometheus operator) against its CRD's schema (kubernetes/schemas); and the
  references between objects: Services, autoscalers, budgets and monitors select
  what exists, Secrets exist, probes and the stop sequence are what Barista needs.
- Compose: deploy/compose.yaml parses; it names only files, images and ports that
  the repository's configs use (nginx's upstreams, Prometheus's targets, Grafana's
  provisioning), and each mounted config passes its own tool (nginx -t, promtool).
- systemd: deploy/systemd/barista.service and the nightly backup (barista-backup.service,
  .timer) pass `systemd-analyze verify`.

    deploy/check.py BARISTA_BINARY     # the binary the systemd unit runs, for verify
"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

import kubernetes_validate
import yaml

K8S_VERSION = "1.32.0"
DEPLOY = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(DEPLOY)
CUSTOM_GROUPS = ("keda.sh", "postgresql.cnpg.io", "monitoring.coreos.com")
failures = []


def fail(where, message):
    failures.append(f"{where}: {message}")
    print(f"  FAIL {where}: {message}")


def duration(text):
    """Seconds in a Barista duration (`10s`, `500ms`, `2m`)."""
    m = re.fullmatch(r"(\d+(?:\.\d+)?)(ms|s|m)", text)
    assert m, text
    return float(m[1]) * {"ms": 0.001, "s": 1, "m": 60}[m[2]]


def matches(selector, labels):
    return all(labels.get(k) == v for k, v in selector.items())


def render(overlay):
    kubectl = shutil.which("kubectl")
    if not kubectl:
        sys.exit("check: kubectl (for `kubectl kustomize`) is not installed")
    out = subprocess.run([kubectl, "kustomize", overlay], capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"check: kubectl kustomize {overlay}:\n{out.stderr}")
    return [d for d in yaml.safe_load_all(out.stdout) if d]


def check_kubernetes(overlay):
    name = os.path.relpath(overlay, ROOT)
    objects = render(overlay)
    print(f"== {name}: {len(objects)} objects")
    kinds = {}
    for o in objects:
        kinds.setdefault(o["kind"], []).append(o)

    # Schemas.
    custom = [o for o in objects if o["apiVersion"].split("/")[0] in CUSTOM_GROUPS]
    for o in objects:
        if o in custom:
            continue
        try:
            kubernetes_validate.validate(o, K8S_VERSION, strict=True)
        except Exception as e:  # ValidationError, SchemaNotFoundError
            fail(f"{name} {o['kind']}/{o['metadata']['name']}", str(e).splitlines()[0])
    schemas = os.path.join(DEPLOY, "kubernetes", "schemas")
    out = subprocess.run(["node", "validate.mjs"], cwd=schemas, input=json.dumps(custom),
                         capture_output=True, text=True)
    for line in out.stdout.splitlines():
        if line.startswith("FAIL"):
            fail(name, line[5:])
    if out.returncode != 0 and "FAIL" not in out.stdout:
        fail(name, f"validate.mjs: {out.stderr.strip()}")
    print(f"   schemas: {len(objects) - len(custom)} built-in objects (Kubernetes {K8S_VERSION}, strict),"
          f" {len(custom)} custom resources ({', '.join(sorted({o['kind'] for o in custom}))})")
    for wanted in ("Deployment", "Service", "PodDisruptionBudget", "NetworkPolicy", "PodMonitor",
                   "Cluster", "ScaledObject", "HorizontalPodAutoscaler", "Secret"):
        if wanted not in kinds:
            fail(name, f"no {wanted}")

    # References between objects.
    deployments = {d["metadata"]["name"]: d for d in kinds.get("Deployment", [])}
    pod_labels = {n: d["spec"]["template"]["metadata"]["labels"] for n, d in deployments.items()}
    secrets = {s["metadata"]["name"]: set((s.get("stringData") or {}) | (s.get("data") or {}))
               for s in kinds.get("Secret", [])}
    for c in kinds.get("Cluster", []):  # CloudNativePG makes <cluster>-app for the owner
        secrets[c["metadata"]["name"] + "-app"] = {"uri", "username", "password", "host", "dbname"}
    services = {s["metadata"]["name"]: s for s in kinds.get("Service", [])}

    # The database: with standbys, a synchronous one (a failover loses no
    # acknowledged order), WAL archived and a scheduled base backup, the
    # storage keys from a Secret that has them.
    for c in kinds.get("Cluster", []):
        cname, spec = c["metadata"]["name"], c["spec"]
        where = f"{name} Cluster/{cname}"
        if spec.get("instances", 1) < 2:
            print(f"   {where}: one instance: not highly available, no standby to wait for")
            continue
        sync = spec.get("postgresql", {}).get("synchronous", {})
        if sync.get("number", 0) < 1 and spec.get("minSyncReplicas", 0) < 1:
            fail(where, "replicates asynchronously: a failover can lose acknowledged orders")
        if sync and sync.get("dataDurability") != "required":
            fail(where, "synchronous.dataDurability is not `required`: it may fall back to asynchronous")
        store = spec.get("backup", {}).get("barmanObjectStore")
        if not store or not store.get("destinationPath"):
            fail(where, "no backup.barmanObjectStore: no WAL archive, no point-in-time restore")
            continue
        creds = store.get("s3Credentials") or store.get("azureCredentials") or store.get("googleCredentials") or {}
        for ref in (v for v in creds.values() if isinstance(v, dict) and "key" in v):
            if ref["key"] not in secrets.get(ref["name"], set()):
                fail(where, f"backup credentials: Secret {ref['name']} has no key {ref['key']}")
        if not creds:
            fail(where, "backup credentials are not taken from a Secret")
        if not any(b["spec"].get("cluster", {}).get("name") == cname for b in kinds.get("ScheduledBackup", [])):
            fail(where, "no ScheduledBackup: WAL alone cannot be restored without a base backup")
        print(f"   {where}: {spec['instances']} instances, {sync.get('number', spec.get('minSyncReplicas'))} synchronous standby,"
              f" WAL archived to {store['destinationPath']}, scheduled base backups")

    for dname, d in deployments.items():
        spec = d["spec"]["template"]["spec"]
        where = f"{name} Deployment/{dname}"
        if d["spec"]["selector"]["matchLabels"] != {k: pod_labels[dname][k] for k in d["spec"]["selector"]["matchLabels"]}:
            fail(where, "the selector does not match the pod template")
        for c in spec["containers"]:
            ports = {p["name"]: p["containerPort"] for p in c.get("ports", [])}
            for kind in ("requests", "limits"):
                for res in ("cpu", "memory"):
                    if res not in c.get("resources", {}).get(kind, {}):
                        fail(where, f"no {kind}.{res}")
            pre_stop = c.get("lifecycle", {}).get("preStop", {}).get("sleep", {}).get("seconds")
            if pre_stop is None:
                fail(where, "no preStop pause")
            for ref in (e["valueFrom"]["secretKeyRef"] for e in c.get("env", []) if "valueFrom" in e):
                if ref["key"] not in secrets.get(ref["name"], set()):
                    fail(where, f"Secret {ref['name']} has no key {ref['key']}")
            if c["image"].split("/")[-1].split(":")[0] != "barista":
                continue
            env = {e["name"]: e.get("value") for e in c.get("env", [])}
            for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
                got = c.get(probe, {}).get("httpGet", {})
                if got.get("path") != path or ports.get(got.get("port")) != 8080:
                    fail(where, f"{probe} is not GET {path} on the API port")
            if "metrics" not in ports or ports["metrics"] != 9464:
                fail(where, "no `metrics` port 9464")
            stop = (pre_stop or 0) + duration(env.get("BARISTA_SHUTDOWN_DELAY", "0s")) \
                + duration(env.get("BARISTA_DRAIN_TIMEOUT", "10s"))
            grace = spec.get("terminationGracePeriodSeconds", 30)
            if grace <= stop:
                fail(where, f"terminationGracePeriodSeconds {grace} is not longer than the stop ({stop:g} s)")

    def selects(selector, what):
        hits = [n for n, labels in pod_labels.items() if matches(selector, labels)]
        if not hits:
            fail(name, f"{what} selects no pods ({selector})")
        return hits

    for s in services.values():
        for dname in selects(s["spec"]["selector"], f"Service/{s['metadata']['name']}"):
            ports = {p.get("name") for c in deployments[dname]["spec"]["template"]["spec"]["containers"]
                     for p in c.get("ports", [])}
            for p in s["spec"]["ports"]:
                if p.get("targetPort") not in ports:
                    fail(name, f"Service/{s['metadata']['name']} targets port {p.get('targetPort')} its pods lack")
    for p in kinds.get("PodDisruptionBudget", []):
        selects(p["spec"]["selector"]["matchLabels"], f"PodDisruptionBudget/{p['metadata']['name']}")
    for m in kinds.get("PodMonitor", []):
        for dname in selects(m["spec"]["selector"]["matchLabels"], f"PodMonitor/{m['metadata']['name']}"):
            labels = pod_labels[dname]
            for label in m["spec"].get("podTargetLabels", []):
                if label not in labels:
                    fail(name, f"PodMonitor keeps label {label}, which {dname}'s pods lack")
    for h in kinds.get("HorizontalPodAutoscaler", []):
        target = h["spec"]["scaleTargetRef"]["name"]
        if target not in deployments:
            fail(name, f"HorizontalPodAutoscaler/{h['metadata']['name']} scales {target}, which does not exist")
        if "stabilizationWindowSeconds" not in h["spec"].get("behavior", {}).get("scaleDown", {}):
            fail(name, f"HorizontalPodAutoscaler/{h['metadata']['name']}: no scale-down stabilization")
    for so in kinds.get("ScaledObject", []):
        target = so["spec"]["scaleTargetRef"]["name"]
        if target not in deployments:
            fail(name, f"ScaledObject/{so['metadata']['name']} scales {target}, which does not exist")
        behavior = so["spec"].get("advanced", {}).get("horizontalPodAutoscalerConfig", {}).get("behavior", {})
        if "stabilizationWindowSeconds" not in behavior.get("scaleDown", {}):
            fail(name, f"ScaledObject/{so['metadata']['name']}: no scale-down stabilization")
        for t in so["spec"]["triggers"]:
            if t["type"] == "cpu":
                # KEDA's CPU trigger is of the pods' requests: they must have one.
                pods = deployments[target]["spec"]["template"]["spec"]["containers"] if target in deployments else []
                if not all(c.get("resources", {}).get("requests", {}).get("cpu") for c in pods):
                    fail(name, f"ScaledObject/{so['metadata']['name']}: a CPU trigger on pods without a CPU request")
                continue
            query = t["metadata"].get("query", "")
            role = pod_labels[target].get("role")
            if f'role="{role}"' not in query:
                fail(name, f"ScaledObject/{so['metadata']['name']}'s query does not select role {role}")
            namespace = so["metadata"].get("namespace")
            if namespace and f'namespace="{namespace}"' not in query:
                fail(name, f"ScaledObject/{so['metadata']['name']}'s query is not for namespace {namespace}")
    # The operations port: only Prometheus may reach it.
    for np in kinds.get("NetworkPolicy", []):
        for rule in np["spec"].get("ingress", []):
            if any(p.get("port") in ("metrics", 9464) for p in rule.get("ports", [])):
                if not rule.get("from") or not all(
                        f.get("podSelector", {}).get("matchLabels", {}).get("app.kubernetes.io/name") == "prometheus"
                        for f in rule["from"]):
                    fail(name, f"NetworkPolicy/{np['metadata']['name']} opens the metrics port to more than Prometheus")
    barista_pods = [n for n, labels in pod_labels.items() if labels.get("app.kubernetes.io/name") == "barista"]
    guarded = [n for n in barista_pods if any(
        matches(np["spec"]["podSelector"].get("matchLabels", {}), pod_labels[n]) and "Ingress" in np["spec"].get("policyTypes", [])
        for np in kinds.get("NetworkPolicy", []))]
    if set(guarded) != set(barista_pods):
        fail(name, f"pods without a NetworkPolicy: {sorted(set(barista_pods) - set(guarded))}")
    # The gateway's nginx.conf routes to Services that exist, on their ports.
    upstreams_seen = 0
    for cm in kinds.get("ConfigMap", []):
        for conf in cm.get("data", {}).values():
            for host, port in re.findall(r"^\s*server\s+([a-z0-9-]+):(\d+)[^;]*;", conf, re.M):
                upstreams_seen += 1
                ports = {p["port"] for p in services.get(host, {}).get("spec", {}).get("ports", [])}
                if int(port) not in ports:
                    fail(name, f"ConfigMap/{cm['metadata']['name']}: upstream {host}:{port} is no Service port")
    if upstreams_seen < 2:
        fail(name, f"the gateway's nginx.conf names {upstreams_seen} upstream servers (menu and orders expected)")


def check_compose():
    path = os.path.join(DEPLOY, "compose.yaml")
    print("== deploy/compose.yaml")
    with open(path) as f:
        compose = yaml.safe_load(f)
    services = compose["services"]
    repo_images = set()
    env_of = {}
    for sname, s in services.items():
        where = f"compose service {sname}"
        if "build" in s:
            context = os.path.normpath(os.path.join(DEPLOY, s["build"]["context"]))
            file = os.path.join(context, s["build"].get("dockerfile", "Containerfile"))
            if not os.path.isfile(file):
                fail(where, f"builds from {os.path.relpath(file, ROOT)}, which does not exist")
            repo_images.add(s["image"])
        image = s.get("image", "")
        tag = image.rsplit(":", 1)[-1] if ":" in image.split("/")[-1] else ""
        if "build" not in s and (not tag or tag == "latest"):
            fail(where, f"image {image!r} is not pinned to a version")
        for volume in s.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                if not os.path.exists(os.path.join(DEPLOY, source)):
                    fail(where, f"mounts {source}, which does not exist")
            elif source not in (compose.get("volumes") or {}):
                fail(where, f"mounts volume {source}, which is not declared")
        for dep in (s.get("depends_on") or []):
            if dep not in services:
                fail(where, f"depends on {dep}, which is not a service")
        env_of[sname] = s.get("environment") or {}
    barista = {n for n, s in services.items() if s.get("image") in repo_images}
    if {"orders", "menu"} - barista:
        fail("compose", "no `orders` and `menu` services built from the Containerfile")
    if services.get("orders", {}).get("deploy", {}).get("replicas") != 2:
        fail("compose", "`orders` does not run two replicas")

    def port(sname, var, default):
        return int(str(env_of[sname].get(var, default)).rsplit(":", 1)[1])

    for sname in barista:
        if env_of[sname].get("BARISTA_ROLE") != sname:
            fail(f"compose service {sname}", f"BARISTA_ROLE is {env_of[sname].get('BARISTA_ROLE')!r}, not {sname!r}")
    # nginx: its upstreams are Barista services on their API port; its config is valid.
    nginx = services["nginx"]
    conf_path = next(os.path.join(DEPLOY, v.split(":")[0]) for v in nginx["volumes"] if "nginx.conf" in v)
    conf = open(conf_path).read()
    upstreams = re.findall(r"^\s*server\s+([a-z0-9-]+):(\d+)[^;]*;", conf, re.M)
    if {h for h, _ in upstreams} != {"orders", "menu"}:
        fail("compose nginx", f"upstreams {upstreams} are not the orders and menu services")
    for host, p in upstreams:
        if host in barista and int(p) != port(host, "BARISTA_LISTEN", "0.0.0.0:8080"):
            fail("compose nginx", f"upstream {host}:{p} is not where {host} listens")
    listen = re.search(r"^\s*listen\s+(\d+);", conf, re.M)
    published = [p.rsplit(":", 1)[1] for p in nginx.get("ports", [])]
    if not listen or listen[1] not in published:
        fail("compose nginx", f"publishes {published}, but nginx listens on {listen and listen[1]}")
    nginx_bin = shutil.which("nginx") or "/usr/sbin/nginx"
    with tempfile.TemporaryDirectory() as tmp:
        local = re.sub(r"server\s+[a-z0-9-]+:(\d+)([^;]*);", r"server 127.0.0.1:\1\2;", conf)
        local = local.replace("worker_processes auto;", f"worker_processes 1;\npid {tmp}/nginx.pid;")
        # The nginx image has /var/cache/nginx; the machine running the check may not.
        local = local.replace("/var/cache/nginx/barista", f"{tmp}/cache")
        open(f"{tmp}/nginx.conf", "w").write(local)
        os.makedirs(f"{tmp}/logs")
        out = subprocess.run([nginx_bin, "-t", "-q", "-p", tmp, "-c", f"{tmp}/nginx.conf",
                              "-e", f"{tmp}/logs/error.log"], capture_output=True, text=True)
        if out.returncode != 0:
            fail("compose nginx", f"nginx -t: {out.stderr.strip()}")
    # Prometheus: scrapes every Barista service on its metrics port; the config and
    # its rules, laid out as mounted, pass promtool.
    prom = services["prometheus"]
    mounts = {v.split(":")[1]: os.path.join(DEPLOY, v.split(":")[0]) for v in prom["volumes"]}
    config_file = mounts["/etc/prometheus/prometheus.yml"]
    config = yaml.safe_load(open(config_file))
    scraped = {}
    for job in config["scrape_configs"]:
        for sd in job.get("dns_sd_configs", []):
            for n in sd["names"]:
                scraped[n] = sd["port"]
    for sname in barista:
        if scraped.get(sname) != port(sname, "BARISTA_METRICS_LISTEN", "0.0.0.0:9464"):
            fail("compose prometheus", f"does not scrape {sname} on its metrics port")
    with tempfile.TemporaryDirectory() as tmp:
        for target, source in mounts.items():
            shutil.copy(source, os.path.join(tmp, os.path.basename(target)))
        out = subprocess.run(["promtool", "check", "config", os.path.join(tmp, "prometheus.yml")],
                             capture_output=True, text=True)
        if out.returncode != 0:
            fail("compose prometheus", f"promtool: {out.stdout.strip()} {out.stderr.strip()}")
    # Grafana: the provisioned data source is Prometheus's service, and the dashboard
    # is mounted where the provider looks.
    grafana = services["grafana"]
    gmounts = {v.split(":")[1]: os.path.join(DEPLOY, v.split(":")[0]) for v in grafana["volumes"]}
    for target, source in gmounts.items():
        if "datasources" in target:
            for ds in yaml.safe_load(open(source))["datasources"]:
                if ds["url"] != f"http://prometheus:{prom['ports'][0].rsplit(':', 1)[1]}":
                    fail("compose grafana", f"data source {ds['url']} is not the prometheus service")
        if "dashboards" in target and target.endswith(".yaml"):
            for provider in yaml.safe_load(open(source))["providers"]:
                folder = provider["options"]["path"]
                if not any(t.startswith(folder + "/") and t.endswith(".json") for t in gmounts):
                    fail("compose grafana", f"no dashboard mounted under {folder}")
        if target.endswith(".json"):
            json.load(open(source))
    print(f"   {len(services)} services; Barista's: {sorted(barista)}; nginx -t and promtool pass"
          if not any(f.startswith("compose") for f in failures) else "   failed")


def check_systemd(binary):
    unit = os.path.join(DEPLOY, "systemd", "barista.service")
    print("== deploy/systemd/barista.service")
    text = open(unit).read()
    for option in ("DynamicUser=yes", "StateDirectory=barista", "ProtectSystem=strict", "NoNewPrivileges=yes"):
        if f"\n{option}\n" not in text:
            fail("systemd", f"no {option}")
    analyze = shutil.which("systemd-analyze")
    if not analyze:
        sys.exit("check: systemd-analyze (Debian's systemd) is not installed")
    backup = open(os.path.join(DEPLOY, "systemd", "barista-backup.service")).read()
    if "barista backup" not in backup or "User=barista" not in backup or "\nUser=barista\n" not in text:
        fail("systemd", "the backup unit does not run `barista backup` as the server's user")
    with tempfile.TemporaryDirectory() as tmp:
        # verify checks that ExecStart's program exists: point it at the binary built here.
        copies = []
        for name in ("barista.service", "barista-backup.service", "barista-backup.timer"):
            copy = os.path.join(tmp, name)
            source = open(os.path.join(DEPLOY, "systemd", name)).read()
            open(copy, "w").write(source.replace("/usr/local/bin/barista", os.path.abspath(binary)))
            copies.append(copy)
        out = subprocess.run([analyze, "verify", *copies], capture_output=True, text=True)
        if out.returncode != 0 or out.stderr.strip():
            fail("systemd", f"systemd-analyze verify: {out.stderr.strip()}")
        else:
            print("   systemd-analyze verify passes (the server, the nightly backup and its timer)")


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    overlays = os.path.join(DEPLOY, "kubernetes", "overlays")
    for overlay in sorted(os.listdir(overlays)):
        check_kubernetes(os.path.join(overlays, overlay))
    check_compose()
    check_systemd(sys.argv[1])
    if failures:
        print(f"check: {len(failures)} problem(s)")
        sys.exit(1)
    print("== deploy/check: passed")


if __name__ == "__main__":
    main()
