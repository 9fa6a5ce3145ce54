#!/usr/bin/env python3
"""test_manifests.py - the Kubernetes manifests under manifests/ (not manifests/samples/).

Reads every YAML file (python3-yaml) and asserts what issue 5 asks of them: each object's
required fields, the webhook configurations against archgate's HTTP contract (paths /validate
and /mutate, Service 443 -> container 8443, the Service selecting the Deployment's pods), the
failure policies and scope, only fields Kubernetes 1.26 serves as stable, the Deployment's
security context, probes, spread, shutdown timing and sizing, the PodDisruptionBudget, the
three certificate overlays (the files one rendered by manifests/overlays/files/render.sh from
certificates of certs/gen-certs.sh), the ServiceMonitor, and the alerts (metric names that
src/metrics.c exports, runbook anchors that are headings of docs/operations.md). When kubectl is installed, every
kustomization is also built with `kubectl kustomize` (offline).

Prints "N passed, M failed"; appends "N M" to $ARCHGATE_TEST_TOTALS when set; exits non-zero
on a failure.
"""
import base64
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MANIFESTS = os.path.join(ROOT, "manifests")
NS = "archgate-system"
RUNBOOKS = "docs/operations.md"   # the alerts' runbook_url is RUNBOOKS#<alert name in lower case>
KUSTOMIZATION_NAMES = ("kustomization.yaml", "kustomization.yml", "Kustomization")

# The API versions of the objects, all served as stable (GA) by Kubernetes 1.26, plus the
# cert-manager and Prometheus Operator CRDs the overlays and monitoring/ use.
STABLE_API_VERSIONS = {
    "v1", "apps/v1", "policy/v1", "admissionregistration.k8s.io/v1", "rbac.authorization.k8s.io/v1",
    "cert-manager.io/v1", "monitoring.coreos.com/v1",
    "kustomize.config.k8s.io/v1beta1", "kustomize.config.k8s.io/v1alpha1",
}
# Fields that 1.26 does not serve as stable (alpha or beta there), anywhere in an object.
NOT_STABLE_IN_126 = {
    "matchConditions",              # webhooks: alpha in 1.27, GA 1.30
    "unhealthyPodEvictionPolicy",   # PodDisruptionBudget: alpha 1.26, beta 1.27
    "matchLabelKeys",               # topology spread: beta 1.27
    "nodeAffinityPolicy",           # topology spread: beta 1.26 (gate on, but not GA)
    "nodeTaintsPolicy",
    "minDomains",                   # beta in 1.25-1.29
    "schedulingGates",              # alpha 1.26
    "resizePolicy",
    "hostUsers",
    "restartPolicy",                # in a container (sidecars): alpha 1.28
}


def parse_duration(text):
    """archgate's duration syntax: 500ms, 10s, 2m, 1h, or bare seconds."""
    m = re.fullmatch(r"(\d+)(ms|s|m|h)?", str(text))
    if not m:
        raise ValueError("not a duration: %r" % text)
    scale = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, None: 1}[m.group(2)]
    return int(m.group(1)) * scale


def github_anchor(heading):
    """The anchor GitHub gives a Markdown heading."""
    text = re.sub(r"[`*_]", "", heading.strip().lower())
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def yaml_files():
    out = []
    for dirpath, dirnames, filenames in os.walk(MANIFESTS):
        rel = os.path.relpath(dirpath, MANIFESTS)
        if rel == "samples" or rel.startswith("samples" + os.sep):
            dirnames[:] = []
            continue
        dirnames.sort()
        for f in sorted(filenames):
            if f.endswith((".yaml", ".yml")) or f == "Kustomization":
                out.append(os.path.join(dirpath, f))
    return out


def load_docs(path):
    with open(path, encoding="utf-8") as fh:
        return [d for d in yaml.safe_load_all(fh) if d is not None]


def is_kustomization(path):
    return os.path.basename(path) in KUSTOMIZATION_NAMES


def walk_keys(node, path=""):
    """Yield (path, key) for every mapping key in a YAML tree."""
    if isinstance(node, dict):
        for k, v in node.items():
            yield path + "/" + str(k), k
            yield from walk_keys(v, path + "/" + str(k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from walk_keys(v, "%s/%d" % (path, i))


def base_objects():
    """The objects of manifests/base (what `kubectl apply -f manifests/base/` applies)."""
    objs = []
    base = os.path.join(MANIFESTS, "base")
    for f in sorted(os.listdir(base)):
        if f.endswith(".yaml"):
            objs.extend(load_docs(os.path.join(base, f)))
    return objs


def find(objs, kind, name):
    hits = [o for o in objs if o.get("kind") == kind and o.get("metadata", {}).get("name") == name]
    if len(hits) != 1:
        raise AssertionError("expected exactly one %s %s, found %d" % (kind, name, len(hits)))
    return hits[0]


def selector_matches(match_labels, labels):
    return all(labels.get(k) == v for k, v in match_labels.items())


def run_kustomize(path):
    """`kubectl kustomize PATH` as a list of objects, or None when kubectl is missing."""
    kubectl = shutil.which("kubectl")
    if not kubectl:
        return None
    res = subprocess.run([kubectl, "kustomize", path], capture_output=True, text=True, timeout=60,
                         env=dict(os.environ, KUBECONFIG=os.devnull))
    if res.returncode != 0:
        raise AssertionError("kubectl kustomize %s failed: %s" % (path, res.stderr.strip()[-600:]))
    return [d for d in yaml.safe_load_all(res.stdout) if d is not None]


OBJS = base_objects()
DEPLOY = find(OBJS, "Deployment", "archgate")
POD = DEPLOY["spec"]["template"]["spec"]
CONTAINER = POD["containers"][0]
POD_LABELS = DEPLOY["spec"]["template"]["metadata"]["labels"]
VWC = find(OBJS, "ValidatingWebhookConfiguration", "archgate-validate")
MWC = find(OBJS, "MutatingWebhookConfiguration", "archgate-mutate")


class TestFiles(unittest.TestCase):
    def test_every_yaml_parses_and_objects_have_identity(self):
        files = yaml_files()
        self.assertGreater(len(files), 10)
        for path in files:
            docs = load_docs(path)
            self.assertTrue(docs, path + " is empty")
            for d in docs:
                self.assertIsInstance(d, dict, path)
                self.assertIn(d.get("apiVersion"), STABLE_API_VERSIONS, "%s: apiVersion" % path)
                self.assertTrue(d.get("kind"), path)
                if d["kind"] not in ("Kustomization", "Component"):
                    self.assertTrue(d.get("metadata", {}).get("name"), "%s: %s without a name" % (path, d["kind"]))

    def test_no_field_that_126_does_not_serve_as_stable(self):
        for path in yaml_files():
            for d in load_docs(path):
                for where, key in walk_keys(d):
                    self.assertNotIn(key, NOT_STABLE_IN_126, "%s: %s" % (path, where))
                # Inline kustomize patches are text: look inside them too.
                for p in d.get("patches", []) if d.get("kind") in ("Kustomization", "Component") else []:
                    for key in NOT_STABLE_IN_126:
                        self.assertNotIn(key, p.get("patch", ""), path)

    def test_namespaced_objects_are_in_archgate_system(self):
        cluster_scoped = {"Namespace", "ClusterRole", "ClusterRoleBinding",
                          "ValidatingWebhookConfiguration", "MutatingWebhookConfiguration"}
        for path in yaml_files():
            if is_kustomization(path):
                continue
            for d in load_docs(path):
                ns = d.get("metadata", {}).get("namespace")
                if d["kind"] in cluster_scoped:
                    self.assertIsNone(ns, "%s: %s is cluster-scoped" % (path, d["kind"]))
                else:
                    self.assertEqual(ns, NS, "%s: %s %s" % (path, d["kind"], d["metadata"]["name"]))

    def test_every_kustomization_lists_files_that_exist(self):
        found = 0
        for path in yaml_files():
            if not is_kustomization(path):
                continue
            found += 1
            k = load_docs(path)[0]
            here = os.path.dirname(path)
            self.assertIn(k.get("kind"), ("Kustomization", "Component"), path)
            for r in k.get("resources", []):
                self.assertTrue(os.path.exists(os.path.join(here, r)), "%s: resource %s does not exist" % (path, r))
            for p in k.get("patches", []):
                if "path" in p:
                    self.assertTrue(os.path.exists(os.path.join(here, p["path"])), "%s: patch %s" % (path, p["path"]))
            for c in k.get("components", []):
                target = os.path.normpath(os.path.join(here, c))
                # The files overlay's component is generated by `make manifests-ca` under build/.
                if os.path.relpath(target, ROOT).startswith("build" + os.sep):
                    self.assertEqual(os.path.relpath(target, ROOT), os.path.join("build", "manifests", "ca"), path)
                else:
                    self.assertTrue(os.path.isdir(target), "%s: component %s" % (path, c))
        self.assertGreaterEqual(found, 6)

    def test_root_kustomization_is_the_base_with_the_original_rbac(self):
        root = load_docs(os.path.join(MANIFESTS, "kustomization.yaml"))[0]
        base = load_docs(os.path.join(MANIFESTS, "base", "Kustomization"))[0]
        self.assertIn("rbac.yaml", root["resources"])
        mapped = ["base/01-rbac.yaml" if r == "rbac.yaml" else r for r in root["resources"]]
        self.assertEqual(mapped, ["base/" + r for r in base["resources"]])
        listed = set(base["resources"])
        on_disk = {f for f in os.listdir(os.path.join(MANIFESTS, "base")) if f.endswith(".yaml")}
        self.assertEqual(listed, on_disk, "base/Kustomization and the files of base/ differ")

    def test_base_rbac_is_a_byte_copy_of_rbac_yaml(self):
        with open(os.path.join(MANIFESTS, "rbac.yaml"), "rb") as a, \
                open(os.path.join(MANIFESTS, "base", "01-rbac.yaml"), "rb") as b:
            self.assertEqual(a.read(), b.read(),
                             "manifests/base/01-rbac.yaml differs from manifests/rbac.yaml: "
                             "cp manifests/rbac.yaml manifests/base/01-rbac.yaml")

    def test_flat_folder_applies_in_order(self):
        # kubectl apply -f manifests/base/ goes in file-name order: the namespace first, the
        # service account before the Deployment, the webhooks last.
        names = sorted(f for f in os.listdir(os.path.join(MANIFESTS, "base")) if f.endswith(".yaml"))
        kinds = [d["kind"] for f in names for d in load_docs(os.path.join(MANIFESTS, "base", f))]
        self.assertEqual(kinds[0], "Namespace")
        self.assertLess(kinds.index("ServiceAccount"), kinds.index("Deployment"))
        self.assertEqual(set(kinds[-2:]), {"ValidatingWebhookConfiguration", "MutatingWebhookConfiguration"})


class TestNamespaceAndRbac(unittest.TestCase):
    def test_namespace_is_left_out_by_the_webhooks(self):
        ns = find(OBJS, "Namespace", NS)
        self.assertEqual(ns["metadata"]["labels"].get("archgate.io/ignore"), "true")
        self.assertEqual(ns["metadata"]["labels"].get("pod-security.kubernetes.io/enforce"), "restricted")

    def test_service_account_matches_rbac(self):
        sa = find(OBJS, "ServiceAccount", "archgate")
        self.assertEqual(sa["metadata"]["namespace"], NS)
        self.assertEqual(POD["serviceAccountName"], sa["metadata"]["name"])
        crb = find(OBJS, "ClusterRoleBinding", "archgate")
        self.assertIn({"kind": "ServiceAccount", "name": POD["serviceAccountName"], "namespace": NS},
                      crb["subjects"])
        role = find(OBJS, "ClusterRole", crb["roleRef"]["name"])
        for rule in role["rules"]:
            if rule["resources"] == ["events"]:     # the audit's Events on VMs
                self.assertEqual(rule["apiGroups"], [""])
                self.assertEqual(sorted(rule["verbs"]), ["create", "patch"])
            else:
                self.assertEqual(sorted(rule["verbs"]), ["get", "list", "watch"])
        self.assertIs(POD.get("automountServiceAccountToken"), True)

    def test_leader_election_role_in_the_namespace(self):
        rb = find(OBJS, "RoleBinding", "archgate-leader-election")
        self.assertEqual(rb["metadata"]["namespace"], NS)
        self.assertIn({"kind": "ServiceAccount", "name": POD["serviceAccountName"], "namespace": NS}, rb["subjects"])
        role = find(OBJS, "Role", rb["roleRef"]["name"])
        self.assertEqual(role["metadata"]["namespace"], NS)
        verbs = set()
        for rule in role["rules"]:
            self.assertEqual((rule["apiGroups"], rule["resources"]), (["coordination.k8s.io"], ["leases"]))
            if "get" in rule["verbs"] or "update" in rule["verbs"]:
                self.assertEqual(rule["resourceNames"], ["archgate-auditor"])
            verbs |= set(rule["verbs"])
        self.assertEqual(verbs, {"create", "get", "update"})

    def test_pod_name_and_namespace_from_the_downward_api(self):
        env = {e["name"]: e for e in CONTAINER["env"]}
        self.assertEqual(env["POD_NAME"]["valueFrom"]["fieldRef"]["fieldPath"], "metadata.name")
        self.assertEqual(env["POD_NAMESPACE"]["valueFrom"]["fieldRef"]["fieldPath"], "metadata.namespace")

    def test_critical_priority_is_admitted_in_the_namespace(self):
        q = find(OBJS, "ResourceQuota", "archgate-critical-pods")
        expr = q["spec"]["scopeSelector"]["matchExpressions"][0]
        self.assertEqual((expr["scopeName"], expr["operator"]), ("PriorityClass", "In"))
        self.assertIn(POD["priorityClassName"], expr["values"])
        self.assertGreater(int(q["spec"]["hard"]["pods"]), DEPLOY["spec"]["replicas"])


class TestDeployment(unittest.TestCase):
    def test_replicas_selector_and_priority(self):
        self.assertEqual(DEPLOY["spec"]["replicas"], 3)
        self.assertTrue(selector_matches(DEPLOY["spec"]["selector"]["matchLabels"], POD_LABELS))
        self.assertEqual(POD["priorityClassName"], "system-cluster-critical")
        ru = DEPLOY["spec"]["strategy"]["rollingUpdate"]
        self.assertEqual(ru["maxUnavailable"], 0, "a rollout must not go below 3 ready replicas")

    def test_spread_over_nodes_and_zones_but_schedules_on_a_small_cluster(self):
        anti = POD["affinity"]["podAntiAffinity"]
        self.assertNotIn("requiredDuringSchedulingIgnoredDuringExecution", anti)
        terms = anti["preferredDuringSchedulingIgnoredDuringExecution"]
        self.assertTrue(any(t["podAffinityTerm"]["topologyKey"] == "kubernetes.io/hostname" and
                            selector_matches(t["podAffinityTerm"]["labelSelector"]["matchLabels"], POD_LABELS)
                            for t in terms))
        tsc = {c["topologyKey"]: c for c in POD["topologySpreadConstraints"]}
        self.assertEqual(set(tsc), {"topology.kubernetes.io/zone", "kubernetes.io/hostname"})
        for c in tsc.values():
            self.assertEqual(c["whenUnsatisfiable"], "ScheduleAnyway")
            self.assertEqual(c["maxSkew"], 1)
            self.assertTrue(selector_matches(c["labelSelector"]["matchLabels"], POD_LABELS))

    def test_no_architecture_constraint_on_archgate_itself(self):
        self.assertNotIn("nodeSelector", POD)
        self.assertNotIn("nodeAffinity", POD.get("affinity", {}))
        text = yaml.safe_dump(POD)
        self.assertNotIn("kubernetes.io/arch", text)
        self.assertNotIn("kubernetes.io/os", text.replace("kubernetes.io/hostname", ""))

    def test_args(self):
        self.assertNotIn("command", CONTAINER, "the image's ENTRYPOINT is the binary")
        self.assertEqual(CONTAINER["args"], [
            "serve", "--in-cluster",
            "--tls-cert", "/etc/archgate/tls/tls.crt", "--tls-key", "/etc/archgate/tls/tls.key",
            "--shutdown-delay", "10s", "--shutdown-grace", "10s", "--log-format", "json",
            "--registry-auth", "/etc/archgate/registry/config.json"])

    def test_args_are_flags_the_binary_knows(self):
        binary = os.path.join(ROOT, "build", "archgate")
        if not os.access(binary, os.X_OK):
            self.skipTest("build/archgate is not built")
        usage = subprocess.run([binary, "--help"], capture_output=True, text=True, timeout=10).stdout
        serve = usage.split("serve flags:", 1)[1].split("review flags:", 1)[0]
        for arg in CONTAINER["args"]:
            if arg.startswith("--"):
                self.assertRegex(serve, r"(?m)^ +%s\b" % re.escape(arg), "archgate serve has no %s" % arg)

    def test_termination_grace_exceeds_delay_plus_grace(self):
        args = CONTAINER["args"]
        delay = parse_duration(args[args.index("--shutdown-delay") + 1])
        grace = parse_duration(args[args.index("--shutdown-grace") + 1])
        self.assertGreater(delay, 0)
        self.assertGreater(POD["terminationGracePeriodSeconds"], delay + grace)

    def test_probes(self):
        ports = {p["name"]: p["containerPort"] for p in CONTAINER["ports"]}
        self.assertEqual(ports.get("https"), 8443)
        for probe, path in (("readinessProbe", "/readyz"), ("livenessProbe", "/healthz")):
            p = CONTAINER[probe]
            self.assertEqual(p["httpGet"]["path"], path)
            self.assertEqual(p["httpGet"]["scheme"], "HTTPS", "archgate serves HTTPS only")
            port = p["httpGet"]["port"]
            self.assertEqual(ports.get(port, port), 8443)
            self.assertLessEqual(p["timeoutSeconds"], p["periodSeconds"])
            self.assertGreaterEqual(p["failureThreshold"], 2)
        live = CONTAINER["livenessProbe"]
        # Liveness must not kill a pod faster than it can finish a slow start or a drain.
        self.assertGreaterEqual(live["periodSeconds"] * live["failureThreshold"], 20)
        self.assertNotEqual(CONTAINER["readinessProbe"]["httpGet"]["path"], live["httpGet"]["path"])

    def test_resources(self):
        r = CONTAINER["resources"]
        self.assertEqual(r["requests"], {"cpu": "100m", "memory": "96Mi"})
        self.assertEqual(r["limits"], {"memory": "256Mi"}, "memory limit only: no CPU throttling")

    def test_security_context(self):
        psc, csc = POD["securityContext"], CONTAINER["securityContext"]
        self.assertIs(psc["runAsNonRoot"], True)
        self.assertEqual(psc["runAsUser"], 65532)
        self.assertEqual(psc["seccompProfile"], {"type": "RuntimeDefault"})
        self.assertIs(csc["runAsNonRoot"], True)
        self.assertIs(csc["readOnlyRootFilesystem"], True)
        self.assertIs(csc["allowPrivilegeEscalation"], False)
        self.assertIs(csc.get("privileged", False), False)
        self.assertEqual(csc["capabilities"], {"drop": ["ALL"]})
        self.assertEqual(csc["seccompProfile"], {"type": "RuntimeDefault"})
        for forbidden in ("hostNetwork", "hostPID", "hostIPC"):
            self.assertFalse(POD.get(forbidden, False))

    def test_certificate_from_the_secret_volume(self):
        vols = {v["name"]: v for v in POD["volumes"]}
        mounts = {m["name"]: m for m in CONTAINER["volumeMounts"]}
        tls = [n for n, v in vols.items() if v.get("secret", {}).get("secretName") == "archgate-tls"]
        self.assertEqual(len(tls), 1)
        m = mounts[tls[0]]
        self.assertEqual(m["mountPath"], "/etc/archgate/tls")
        self.assertIs(m["readOnly"], True)
        args = CONTAINER["args"]
        for flag in ("--tls-cert", "--tls-key"):
            self.assertEqual(os.path.dirname(args[args.index(flag) + 1]), m["mountPath"])
        mode = vols[tls[0]]["secret"].get("defaultMode", 0o644)
        self.assertEqual(mode & 0o007, 0, "the key is not world-readable")
        if not mode & 0o004:
            self.assertIn("fsGroup", POD["securityContext"], "group-readable only: fsGroup needed")


    def test_optional_registry_pull_secret(self):
        vols = {v["name"]: v for v in POD["volumes"]}
        mounts = {m["name"]: m for m in CONTAINER["volumeMounts"]}
        auth = [n for n, v in vols.items() if v.get("secret", {}).get("secretName") == "archgate-registry-auth"]
        self.assertEqual(len(auth), 1)
        sec = vols[auth[0]]["secret"]
        self.assertIs(sec.get("optional"), True, "archgate starts without the Secret (anonymous lookups)")
        self.assertEqual(sec["items"], [{"key": ".dockerconfigjson", "path": "config.json"}])
        self.assertEqual(sec.get("defaultMode", 0o644) & 0o007, 0)
        m = mounts[auth[0]]
        self.assertIs(m["readOnly"], True)
        args = CONTAINER["args"]
        self.assertEqual(args[args.index("--registry-auth") + 1], m["mountPath"] + "/config.json")


class TestServicesAndPdb(unittest.TestCase):
    def test_webhook_service_443_to_8443_selects_the_pods(self):
        svc = find(OBJS, "Service", "archgate")
        self.assertTrue(selector_matches(svc["spec"]["selector"], POD_LABELS))
        self.assertEqual(len(svc["spec"]["ports"]), 1)
        port = svc["spec"]["ports"][0]
        self.assertEqual((port["port"], port["targetPort"]), (443, 8443))
        self.assertIn(port["targetPort"], [p["containerPort"] for p in CONTAINER["ports"]])

    def test_metrics_service(self):
        svc = find(OBJS, "Service", "archgate-metrics")
        self.assertTrue(selector_matches(svc["spec"]["selector"], POD_LABELS))
        port = svc["spec"]["ports"][0]
        self.assertEqual((port["name"], port["port"], port["targetPort"]), ("https-metrics", 8443, 8443))
        self.assertNotEqual(svc["metadata"]["labels"], find(OBJS, "Service", "archgate")["metadata"]["labels"],
                            "the ServiceMonitor must be able to select only the metrics Service")

    def test_pdb(self):
        pdb = find(OBJS, "PodDisruptionBudget", "archgate")
        self.assertEqual(pdb["apiVersion"], "policy/v1")
        self.assertEqual(pdb["spec"]["minAvailable"], 2)
        self.assertLess(pdb["spec"]["minAvailable"], DEPLOY["spec"]["replicas"], "a node drain must be possible")
        self.assertTrue(selector_matches(pdb["spec"]["selector"]["matchLabels"], POD_LABELS))


class TestWebhooks(unittest.TestCase):
    def check_common(self, w, path, rules_expected):
        self.assertEqual(w["name"].count("."), 2, "a fully qualified webhook name")
        self.assertEqual(w["admissionReviewVersions"], ["v1"])
        self.assertEqual(w["sideEffects"], "None")
        self.assertEqual(w["timeoutSeconds"], 5)
        self.assertEqual(w["matchPolicy"], "Equivalent")
        self.assertNotIn("matchConditions", w)
        cc = w["clientConfig"]
        self.assertNotIn("url", cc)
        self.assertNotIn("caBundle", cc, "the CA bundle comes from a certificate overlay")
        self.assertEqual(cc["service"], {"name": "archgate", "namespace": NS, "path": path, "port": 443})
        svc = find(OBJS, "Service", cc["service"]["name"])
        self.assertIn(cc["service"]["port"], [p["port"] for p in svc["spec"]["ports"]])
        rules = sorted((r["apiGroups"], r["apiVersions"], r["resources"], sorted(r["operations"]), r["scope"])
                       for r in w["rules"])
        self.assertEqual(rules, rules_expected)
        exprs = {e["key"]: e for e in w["namespaceSelector"]["matchExpressions"]}
        names = exprs["kubernetes.io/metadata.name"]
        self.assertEqual(names["operator"], "NotIn")
        self.assertEqual(set(names["values"]), {"kube-system", "kube-node-lease", NS})
        self.assertEqual((exprs["archgate.io/ignore"]["operator"], exprs["archgate.io/ignore"]["values"]),
                         ("NotIn", ["true"]))
        self.assertNotIn("matchLabels", w["namespaceSelector"])
        obj = w["objectSelector"]["matchExpressions"]
        self.assertEqual(obj, [{"key": "archgate.io/ignore", "operator": "NotIn", "values": ["true"]}])
        return w

    VM_RULES = [
        (["kubevirt.io"], ["v1"], ["virtualmachineinstances"], ["CREATE"], "Namespaced"),
        (["kubevirt.io"], ["v1"], ["virtualmachines"], ["CREATE", "UPDATE"], "Namespaced"),
    ]

    def test_validating(self):
        self.assertEqual(len(VWC["webhooks"]), 2)
        w = self.check_common(VWC["webhooks"][0], "/validate", self.VM_RULES)
        self.assertEqual(w["failurePolicy"], "Fail")
        self.assertNotIn("reinvocationPolicy", w)

    def test_validating_hyperconverged_fails_open(self):
        w = self.check_common(VWC["webhooks"][1], "/validate", [
            (["hco.kubevirt.io"], ["v1beta1", "v1"], ["hyperconvergeds"], ["CREATE", "UPDATE"], "Namespaced"),
        ])
        self.assertEqual(w["failurePolicy"], "Ignore", "the HyperConverged CR must stay editable without archgate")

    def test_mutating(self):
        self.assertEqual(len(MWC["webhooks"]), 1)
        w = self.check_common(MWC["webhooks"][0], "/mutate", self.VM_RULES)
        self.assertEqual(w["failurePolicy"], "Ignore")
        self.assertEqual(w["reinvocationPolicy"], "IfNeeded")

    def test_webhook_names_differ(self):
        names = [w["name"] for c in (VWC, MWC) for w in c["webhooks"]]
        self.assertEqual(len(names), len(set(names)))


def overlay(name):
    return load_docs(os.path.join(MANIFESTS, "overlays", name, "kustomization.yaml"))[0]


def patches_for(k, kind, name):
    """The JSON6902 operations of a kustomization's inline patches aimed at kind/name."""
    ops = []
    for p in k.get("patches", []):
        t = p.get("target", {})
        if t.get("kind") == kind and t.get("name") == name:
            ops.extend(yaml.safe_load(p["patch"]))
    return ops


def annotation_ops(ops):
    out = {}
    for op in ops:
        if op["op"] == "add" and op["path"] == "/metadata/annotations":
            out.update(op["value"])
    return out


class TestCertManagerOverlay(unittest.TestCase):
    def setUp(self):
        self.k = overlay("cert-manager")
        self.objs = load_docs(os.path.join(MANIFESTS, "overlays", "cert-manager", "certificates.yaml"))

    def test_serving_certificate(self):
        cert = find(self.objs, "Certificate", "archgate-serving")
        self.assertEqual(cert["spec"]["secretName"], "archgate-tls")
        self.assertIn("archgate.archgate-system.svc", cert["spec"]["dnsNames"])
        self.assertIn("server auth", cert["spec"]["usages"])
        issuer = find(self.objs, cert["spec"]["issuerRef"]["kind"], cert["spec"]["issuerRef"]["name"])
        ca = find(self.objs, "Certificate", issuer["spec"]["ca"]["secretName"])
        self.assertIs(ca["spec"]["isCA"], True)
        self.assertIn("selfSigned", find(self.objs, "Issuer", ca["spec"]["issuerRef"]["name"])["spec"])
        # Renewed well before the 7-day alert fires.
        self.assertGreater(parse_duration(cert["spec"]["renewBefore"]), 7 * 86400)

    def test_inject_ca_from_names_the_certificate(self):
        want = "%s/archgate-serving" % NS
        for kind, name in (("ValidatingWebhookConfiguration", "archgate-validate"),
                           ("MutatingWebhookConfiguration", "archgate-mutate")):
            ann = annotation_ops(patches_for(self.k, kind, name))
            self.assertEqual(ann.get("cert-manager.io/inject-ca-from"), want, kind)


class TestOpenShiftOverlay(unittest.TestCase):
    def test_service_ca_annotations(self):
        k = overlay("openshift")
        self.assertEqual(annotation_ops(patches_for(k, "Service", "archgate")),
                         {"service.beta.openshift.io/serving-cert-secret-name": "archgate-tls"})
        for kind, name in (("ValidatingWebhookConfiguration", "archgate-validate"),
                           ("MutatingWebhookConfiguration", "archgate-mutate")):
            self.assertEqual(annotation_ops(patches_for(k, kind, name)),
                             {"service.beta.openshift.io/inject-cabundle": "true"})

    def test_fixed_ids_removed_for_restricted_scc(self):
        ops = patches_for(overlay("openshift"), "Deployment", "archgate")
        removed = {op["path"] for op in ops if op["op"] == "remove"}
        for field in ("runAsUser", "runAsGroup", "fsGroup"):
            if field in POD["securityContext"]:
                self.assertIn("/spec/template/spec/securityContext/" + field, removed)


@unittest.skipUnless(shutil.which("openssl"), "openssl is needed to make certificates")
class TestFilesOverlay(unittest.TestCase):
    """manifests/overlays/files/render.sh, as `make manifests-ca` runs it."""

    @classmethod
    def setUpClass(cls):
        os.makedirs(os.path.join(ROOT, "build"), exist_ok=True)
        # Under build/, so a kustomization in it can name ../../manifests/base (kustomize wants
        # relative paths).
        cls.tmp = tempfile.mkdtemp(prefix="test-manifests-", dir=os.path.join(ROOT, "build"))
        cls.certs = os.path.join(cls.tmp, "certs")
        subprocess.run([os.path.join(ROOT, "certs", "gen-certs.sh"), cls.certs], check=True,
                       capture_output=True, timeout=60)
        cls.render = os.path.join(MANIFESTS, "overlays", "files", "render.sh")
        subprocess.run([cls.render, cls.certs, cls.tmp], check=True, capture_output=True, timeout=60)
        with open(os.path.join(cls.certs, "ca.crt"), "rb") as fh:
            cls.ca = fh.read()

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def read_b64(self, value):
        return base64.b64decode(value, validate=True)

    def test_secret(self):
        s = load_docs(os.path.join(self.tmp, "ca", "secret-archgate-tls.yaml"))[0]
        self.assertEqual((s["kind"], s["metadata"]["name"], s["metadata"]["namespace"], s["type"]),
                         ("Secret", "archgate-tls", NS, "kubernetes.io/tls"))
        for key in ("tls.crt", "tls.key", "ca.crt"):
            with open(os.path.join(self.certs, key), "rb") as fh:
                self.assertEqual(self.read_b64(s["data"][key]), fh.read(), key)
        mode = os.stat(os.path.join(self.tmp, "ca", "secret-archgate-tls.yaml")).st_mode & 0o777
        self.assertEqual(mode & 0o077, 0, "the rendered Secret holds a key")

    def test_component_patches_the_ca_bundle(self):
        c = load_docs(os.path.join(self.tmp, "ca", "kustomization.yaml"))[0]
        self.assertEqual(c["kind"], "Component")
        for kind, name in (("ValidatingWebhookConfiguration", "archgate-validate"),
                           ("MutatingWebhookConfiguration", "archgate-mutate")):
            ops = patches_for(c, kind, name)
            n = len(find(OBJS, kind, name)["webhooks"])
            self.assertEqual([op["path"] for op in ops], ["/webhooks/%d/clientConfig/caBundle" % i for i in range(n)])
            for op in ops:
                self.assertEqual(self.read_b64(op["value"]), self.ca)

    def test_flat_folder_is_the_base_plus_the_secret_with_ca_bundles(self):
        flat = os.path.join(self.tmp, "files")
        objs = [d for f in sorted(os.listdir(flat)) for d in load_docs(os.path.join(flat, f))]
        key = lambda o: (o["kind"], o["metadata"]["name"])
        self.assertEqual(sorted(map(key, objs)), sorted(list(map(key, OBJS)) + [("Secret", "archgate-tls")]))
        self.assertEqual(objs[0]["kind"], "Namespace")
        for o in objs:
            if o["kind"].endswith("WebhookConfiguration"):
                for w in o["webhooks"]:
                    self.assertEqual(self.read_b64(w["clientConfig"].pop("caBundle")), self.ca)
                self.assertEqual(o, find(OBJS, o["kind"], o["metadata"]["name"]), "only caBundle added")
            elif o["kind"] != "Secret":
                self.assertEqual(o, find(OBJS, o["kind"], o["metadata"]["name"]))

    def test_refuses_a_certificate_of_another_ca(self):
        other = os.path.join(self.tmp, "other")
        subprocess.run([os.path.join(ROOT, "certs", "gen-certs.sh"), other], check=True,
                       capture_output=True, timeout=60)
        mixed = os.path.join(self.tmp, "mixed")
        os.makedirs(mixed)
        shutil.copy(os.path.join(self.certs, "ca.crt"), mixed)
        shutil.copy(os.path.join(other, "tls.crt"), mixed)
        shutil.copy(os.path.join(other, "tls.key"), mixed)
        res = subprocess.run([self.render, mixed, os.path.join(self.tmp, "out-mixed")],
                             capture_output=True, text=True, timeout=60)
        self.assertNotEqual(res.returncode, 0)
        self.assertIn("not signed by", res.stderr)

    def test_refuses_missing_or_broken_files(self):
        empty = os.path.join(self.tmp, "empty")
        os.makedirs(empty)
        res = subprocess.run([self.render, empty, os.path.join(self.tmp, "out-empty")],
                             capture_output=True, text=True, timeout=60)
        self.assertNotEqual(res.returncode, 0)
        self.assertIn("missing", res.stderr)
        broken = os.path.join(self.tmp, "broken")
        shutil.copytree(self.certs, broken)
        with open(os.path.join(broken, "ca.crt"), "w") as fh:
            fh.write("not a certificate\n")
        res = subprocess.run([self.render, broken, os.path.join(self.tmp, "out-broken")],
                             capture_output=True, text=True, timeout=60)
        self.assertNotEqual(res.returncode, 0)
        self.assertFalse(os.path.exists(os.path.join(self.tmp, "out-broken", "files")))
        res = subprocess.run([self.render, self.certs], capture_output=True, text=True, timeout=60)
        self.assertEqual(res.returncode, 2, "usage error")

    @unittest.skipUnless(shutil.which("kubectl"), "kubectl is not installed")
    def test_kustomize_builds_the_base_with_the_component(self):
        with open(os.path.join(self.tmp, "kustomization.yaml"), "w") as fh:
            rel = os.path.relpath(os.path.join(MANIFESTS, "base"), self.tmp)
            fh.write("resources:\n  - %s\ncomponents:\n  - ca\n" % rel)
        objs = run_kustomize(self.tmp)
        self.assertEqual(find(objs, "Secret", "archgate-tls")["type"], "kubernetes.io/tls")
        for kind, name in (("ValidatingWebhookConfiguration", "archgate-validate"),
                           ("MutatingWebhookConfiguration", "archgate-mutate")):
            for w in find(objs, kind, name)["webhooks"]:
                self.assertEqual(self.read_b64(w["clientConfig"]["caBundle"]), self.ca)


@unittest.skipUnless(shutil.which("kubectl"), "kubectl is not installed: the kustomize builds are not checked")
class TestKustomizeBuilds(unittest.TestCase):
    def test_root_builds_the_base(self):
        objs = run_kustomize(MANIFESTS)
        key = lambda o: (o["kind"], o["metadata"]["name"])
        self.assertEqual(sorted(map(key, objs)), sorted(map(key, OBJS)))

    def test_cert_manager_overlay(self):
        objs = run_kustomize(os.path.join(MANIFESTS, "overlays", "cert-manager"))
        for kind, name in (("ValidatingWebhookConfiguration", "archgate-validate"),
                           ("MutatingWebhookConfiguration", "archgate-mutate")):
            ann = find(objs, kind, name)["metadata"]["annotations"]
            cert = ann["cert-manager.io/inject-ca-from"].split("/")
            self.assertEqual(find(objs, "Certificate", cert[1])["metadata"]["namespace"], cert[0])
        self.assertEqual(find(objs, "Certificate", "archgate-serving")["spec"]["secretName"], "archgate-tls")

    def test_openshift_overlay(self):
        objs = run_kustomize(os.path.join(MANIFESTS, "overlays", "openshift"))
        svc = find(objs, "Service", "archgate")
        self.assertEqual(svc["metadata"]["annotations"]["service.beta.openshift.io/serving-cert-secret-name"],
                         "archgate-tls")
        for kind, name in (("ValidatingWebhookConfiguration", "archgate-validate"),
                           ("MutatingWebhookConfiguration", "archgate-mutate")):
            self.assertEqual(find(objs, kind, name)["metadata"]["annotations"]
                             ["service.beta.openshift.io/inject-cabundle"], "true")
        psc = find(objs, "Deployment", "archgate")["spec"]["template"]["spec"]["securityContext"]
        self.assertNotIn("runAsUser", psc)
        self.assertIs(psc["runAsNonRoot"], True)

    def test_monitoring(self):
        kinds = sorted(o["kind"] for o in run_kustomize(os.path.join(MANIFESTS, "monitoring")))
        self.assertEqual(kinds, ["PrometheusRule", "ServiceMonitor"])


def monitoring(kind):
    objs = [d for f in ("servicemonitor.yaml", "prometheusrule.yaml")
            for d in load_docs(os.path.join(MANIFESTS, "monitoring", f))]
    return find(objs, kind, "archgate")


def alerts():
    rules = {}
    for g in monitoring("PrometheusRule")["spec"]["groups"]:
        for r in g["rules"]:
            if "alert" in r:
                rules[r["alert"]] = r
    return rules


class TestMonitoring(unittest.TestCase):
    def test_service_monitor_scrapes_the_metrics_service_over_https(self):
        sm = monitoring("ServiceMonitor")
        svc = find(OBJS, "Service", "archgate-metrics")
        self.assertTrue(selector_matches(sm["spec"]["selector"]["matchLabels"], svc["metadata"]["labels"]))
        self.assertFalse(selector_matches(sm["spec"]["selector"]["matchLabels"],
                                          find(OBJS, "Service", "archgate")["metadata"]["labels"]))
        self.assertEqual(sm["spec"]["namespaceSelector"]["matchNames"], [NS])
        ep = sm["spec"]["endpoints"][0]
        self.assertIn(ep["port"], [p["name"] for p in svc["spec"]["ports"]])
        self.assertEqual((ep["path"], ep["scheme"]), ("/metrics", "https"))
        self.assertIs(ep["tlsConfig"]["insecureSkipVerify"], True)

    def test_the_alerts_exist(self):
        a = alerts()
        want = {
            "ArchgateCertificateExpiringSoon": ["archgate_certificate_expiry_seconds", "< 7 * 86400"],
            "ArchgateAdmissionLatencyHigh": ["histogram_quantile(0.99,", "archgate_admission_duration_seconds_bucket",
                                             "[5m]", "> 0.1"],
            "ArchgateAdmissionErrors": ['archgate_admission_requests_total{verdict="error"}', 'code=~"5.."'],
            "ArchgateClusterViewStale": [],
            "ArchgateMultiArchBootImagesDisabled": ["archgate_cluster_heterogeneous) == 1",
                                                    "archgate_multi_arch_enabled) == 0"],
            "ArchgateUnavailable": ['job="archgate-metrics"'],
            "ArchgateVMsRefused": ['archgate_audit_vms{result="refused"}', "> 0"],
        }
        self.assertEqual(set(a), set(want))
        for name, parts in want.items():
            expr = " ".join(a[name]["expr"].split())
            for part in parts:
                self.assertIn(part, expr, name)

    def test_every_alert_has_for_severity_summary_and_runbook(self):
        for name, r in alerts().items():
            self.assertTrue(re.fullmatch(r"\d+[smh]", r["for"]), name)
            self.assertIn(r["labels"]["severity"], ("warning", "critical"), name)
            self.assertTrue(r["annotations"]["summary"], name)
            self.assertTrue(r["annotations"]["description"], name)
            url = r["annotations"]["runbook_url"]
            self.assertTrue(url.startswith(RUNBOOKS + "#"), name)
            self.assertEqual(url.split("#", 1)[1], name.lower(), "the runbook heading is the alert's name")

    def test_alert_metrics_are_exported(self):
        src = ""
        for dirpath, _, files in os.walk(os.path.join(ROOT, "src")):
            for f in sorted(files):
                if f.endswith(".c"):
                    with open(os.path.join(dirpath, f), encoding="utf-8") as fh:
                        src += fh.read()
        for name, r in alerts().items():
            for metric in set(re.findall(r"\barchgate_[a-z_]+", r["expr"])):
                family = re.sub(r"_(bucket|sum|count)$", "", metric)
                self.assertIn('"%s' % family, src, "%s uses %s, which src/ does not export" % (name, metric))

    def test_runbook_anchors_are_headings_under_runbooks(self):
        with open(os.path.join(ROOT, RUNBOOKS), encoding="utf-8") as fh:
            text = re.sub(r"^```.*?^```", "", fh.read(), flags=re.M | re.S)   # not inside code blocks
        headings = re.findall(r"^(#{1,6}) +(.+?) *$", text, re.M)
        start = [i for i, (hashes, h) in enumerate(headings) if h.strip().lower() == "runbooks"]
        self.assertEqual(len(start), 1, '%s has one "Runbooks" heading' % RUNBOOKS)
        level = len(headings[start[0]][0])
        below = []
        for hashes, h in headings[start[0] + 1:]:
            if len(hashes) <= level:
                break
            below.append(github_anchor(h))
        for name, r in alerts().items():
            anchor = r["annotations"]["runbook_url"].split("#", 1)[1]
            self.assertIn(anchor, below, "%s: %s has no heading for #%s under Runbooks" % (name, RUNBOOKS, anchor))


def main():
    suite = unittest.defaultTestLoader.loadTestsFromModule(sys.modules[__name__])
    result = unittest.TextTestRunner(verbosity=2 if "-v" in sys.argv else 1, stream=sys.stdout).run(suite)
    failed = len(result.failures) + len(result.errors) + len(result.unexpectedSuccesses)
    skipped = len(result.skipped)
    for test, reason in result.skipped:
        print("skipped %s: %s" % (test.id().split(".", 1)[1], reason))
    passed = result.testsRun - failed - skipped
    print("%d passed, %d failed" % (passed, failed))
    totals = os.environ.get("ARCHGATE_TEST_TOTALS")
    if totals:
        with open(totals, "a") as fh:
            fh.write("%d %d\n" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
