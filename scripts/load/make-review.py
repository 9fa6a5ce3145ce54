#!/usr/bin/env python3
# make-review.py - builds scripts/load/review-10k.json, the AdmissionReview `make load` sends:
# manifests/samples/reviews/fedora-arm64-pinned.json (a common-templates VM the sample cluster
# allows) grown to about 10 KB of compact JSON with what a real CREATE carries: kubectl's
# last-applied-configuration, a second managedFields entry, more labels, a fuller cloud-init and a
# MAC address. Compact because that is what kube-apiserver sends.
#
#   scripts/load/make-review.py > scripts/load/review-10k.json
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
BASE = os.path.join(HERE, "..", "..", "manifests", "samples", "reviews", "fedora-arm64-pinned.json")

with open(BASE, encoding="utf-8") as f:
    review = json.load(f)
req = review["request"]
vm = req["object"]
meta = vm["metadata"]
tmpl = vm["spec"]["template"]

meta["labels"].update({
    "app.kubernetes.io/part-of": "analytics",
    "app.kubernetes.io/managed-by": "kubectl",
    "environment": "staging",
    "cost-center": "cc-4711",
    "owner": "alice",
})
meta["annotations"].update({
    "description": "Fedora build agent for the analytics team (arm64)",
    "openshift.io/display-name": "Fedora arm64 build agent",
    "kubemacpool.io/transaction-timestamp": "2026-07-01T10:16:40.482910377Z",
})
tmpl["spec"]["evictionStrategy"] = "LiveMigrate"
# A blank data disk beside the root disk.
vm["spec"]["dataVolumeTemplates"].append({
    "apiVersion": "cdi.kubevirt.io/v1beta1", "kind": "DataVolume",
    "metadata": {"name": meta["name"] + "-data"},
    "spec": {"source": {"blank": {}},
             "storage": {"accessModes": ["ReadWriteMany"], "volumeMode": "Block",
                         "resources": {"requests": {"storage": "100Gi"}},
                         "storageClassName": "ocs-storagecluster-ceph-rbd-virtualization"}}})
tmpl["spec"]["domain"]["devices"]["disks"].append({"disk": {"bus": "virtio"}, "name": "datadisk"})
tmpl["spec"]["volumes"].append({"dataVolume": {"name": meta["name"] + "-data"}, "name": "datadisk"})
tmpl["spec"]["domain"]["devices"]["interfaces"][0]["macAddress"] = "02:5f:6e:00:00:4b"
tmpl["spec"]["domain"]["memory"]["guest"] = "4Gi"
for vol in tmpl["spec"]["volumes"]:
    if "cloudInitNoCloud" in vol:
        vol["cloudInitNoCloud"]["userData"] = (
            "#cloud-config\n"
            "user: fedora\n"
            "ssh_authorized_keys:\n"
            "  - ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHq4n0Zr2cW8dXk5Lm3vT7sYp1aQe6jB9uFo2gNh4RtKw alice@workstation\n"
            "  - ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB7c1xYvQ0m2pK8sLr4nWd5eHu9jZ3aTq6fGo1bNc8Vy ci@build-controller\n"
            "package_update: true\n"
            "packages:\n  - git\n  - podman\n  - buildah\n  - make\n  - gcc\n  - qemu-guest-agent\n"
            "write_files:\n"
            "  - path: /etc/containers/registries.conf.d/50-mirror.conf\n"
            "    content: |\n"
            "      [[registry]]\n"
            "      location = \"quay.io\"\n"
            "      [[registry.mirror]]\n"
            "      location = \"mirror.registry.example.internal:5000\"\n"
            "runcmd:\n"
            "  - [systemctl, enable, --now, qemu-guest-agent]\n"
            "  - [systemctl, enable, --now, podman.socket]\n"
        )

# kubectl apply keeps the object it applied, as one JSON string.
applied = {k: v for k, v in vm.items()}
applied["metadata"] = {k: meta[k] for k in ("annotations", "labels", "name", "namespace")}
applied["metadata"]["annotations"] = dict(meta["annotations"])
meta["annotations"]["kubectl.kubernetes.io/last-applied-configuration"] = (
    json.dumps(applied, separators=(",", ":")) + "\n")
meta["managedFields"].append({
    "apiVersion": "kubevirt.io/v1",
    "fieldsType": "FieldsV1",
    "fieldsV1": {"f:metadata": {"f:annotations": {
        "f:kubectl.kubernetes.io/last-applied-configuration": {},
        "f:kubemacpool.io/transaction-timestamp": {},
        "f:description": {}, "f:openshift.io/display-name": {}},
        "f:labels": {"f:app.kubernetes.io/part-of": {}, "f:app.kubernetes.io/managed-by": {},
                     "f:environment": {}, "f:cost-center": {}, "f:owner": {}}},
        "f:spec": {"f:template": {"f:spec": {"f:evictionStrategy": {}}}}},
    "manager": "kubectl-client-side-apply",
    "operation": "Update",
    "time": "2026-07-01T10:16:40Z",
})
req["userInfo"]["groups"].insert(1, "system:authenticated:oauth")
req["userInfo"]["extra"] = {"scopes.authorization.openshift.io": ["user:full"]}
req["options"]["fieldManager"] = "kubectl-client-side-apply"

sys.stdout.write(json.dumps(review, separators=(",", ":")) + "\n")
