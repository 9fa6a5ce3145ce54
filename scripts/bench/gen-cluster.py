#!/usr/bin/env python3
"""gen-cluster.py - write a cluster-state folder shaped like a large KubeVirt cluster, for the
memory benchmark (scripts/bench/memory.sh) and scale experiments.

  gen-cluster.py OUT_DIR [--workers N] [--control-planes N] [--datasources N] [--vms N]
                 [--labels full|short] [--seed S] [--churn K]

Workers carry the labels KubeVirt's node-labeller puts on every schedulable node (cpu-model,
cpu-model-migration, cpu-feature, host-model, hyperv, machine-type, tsc-frequency: about 167
with --labels full, about 30 with --labels short), the usual kubelet labels, annotations,
conditions and images; four hardware generations give four label sets that repeat across the
nodes, as they do in a real fleet. 80% of workers are amd64, 15% arm64, 5% s390x (arm64 and s390x
workers carry no x86 cpu-feature labels). DataSources come in golden-image families across
namespaces (an architecture-agnostic pointer and one labelled sibling per architecture); VMs are
made from the common templates (DataSource clones, containerDisks, PVCs), some running.

--churn K rewrites nodes.json only, with K workers changed (a label value, a taint, a cordon)
and every heartbeat moved on: what a folder that an exporter refreshes looks like.

Deterministic for a given seed. Writes nodes.json, datasources.json, hyperconverged.json,
kubevirt.json and vms.json (VirtualMachineList).
"""
import argparse
import json
import os
import random
import zlib

FEATURES = ("abm adx aes amd-ssbd amd-stibp arat arch-capabilities avx avx2 avx512bw avx512cd "
            "avx512dq avx512f avx512vl avx512vnni bmi1 bmi2 clflushopt clwb cmpxchg16b cx8 de "
            "erms f16c flush-l1d fma fpu fsgsbase fxsr hypervisor ibpb ibrs ibrs-all invpcid "
            "invtsc lahf_lm lm mca mce md-clear mds-no mmx movbe msr mtrr nx pae pat pcid "
            "pclmuldq pdcm pdpe1gb pge pku pni popcnt pschange-mc-no pse pse36 rdctl-no "
            "rdrand rdseed rdtscp sep skip-l1dfl-vmentry smap smep spec-ctrl ss ssbd sse "
            "sse2 sse4.1 sse4.2 ssse3 stibp syscall tsc tsc-deadline tsc_adjust umip vme "
            "vmx x2apic xgetbv1 xsave xsavec xsaveopt xsaves").split()
MODELS = ("Broadwell-noTSX Broadwell-noTSX-IBRS Cascadelake-Server Cascadelake-Server-noTSX "
          "Haswell-noTSX Haswell-noTSX-IBRS Icelake-Server-noTSX IvyBridge IvyBridge-IBRS Nehalem "
          "Nehalem-IBRS Penryn SandyBridge SandyBridge-IBRS Skylake-Client-IBRS "
          "Skylake-Client-noTSX-IBRS Skylake-Server Skylake-Server-IBRS Skylake-Server-noTSX-IBRS "
          "Westmere Westmere-IBRS").split()
HYPERV = ("base frequencies ipi reenlightenment reset runtime synic synic2 synictimer time "
          "tlbflush vpindex evmcs").split()
MACHINES = ("pc-i440fx-rhel7.6.0 pc-q35-rhel7.6.0 pc-q35-rhel8.0.0 pc-q35-rhel8.1.0 "
            "pc-q35-rhel8.2.0 pc-q35-rhel8.3.0 pc-q35-rhel8.4.0 pc-q35-rhel8.5.0 pc-q35-rhel8.6.0 "
            "pc-q35-rhel9.0.0 pc-q35-rhel9.2.0 pc-q35-rhel9.4.0 q35 pc").split()
ARM_FEATURES = "aes asimd atomics cpuid crc32 evtstrm fp pmull sha1 sha2".split()
ARM_MACHINES = "virt virt-rhel9.2.0 virt-rhel9.4.0".split()
S390_MACHINES = "s390-ccw-virtio s390-ccw-virtio-rhel9.2.0 s390-ccw-virtio-rhel9.4.0".split()
GENERATIONS = 4
FAMILIES = ("fedora centos-stream9 centos-stream10 rhel8 rhel9 rhel10 ubuntu2204 ubuntu2404 "
            "debian12 opensuse-leap win2k22 win11").split()
ARCHS = ("amd64", "arm64", "s390x")
T0 = "2026-03-02T09:14:21Z"


def h(*parts):
    """A hash that is the same in every run (str hashes are salted per process)."""
    return zlib.crc32("/".join(str(p) for p in parts).encode())


def kubevirt_labels(arch, gen, full, rng):
    """The node-labeller's labels for one hardware generation of one architecture."""
    labels = {}
    pick = random.Random(h(arch, gen))
    if arch == "amd64":
        feats = FEATURES if full else FEATURES[:8]
        models = MODELS if full else MODELS[:4]
        keep_f = [f for f in feats if pick.random() < 0.9]
        keep_m = models[: max(2, len(models) - 3 * (GENERATIONS - 1 - gen))]
        for f in keep_f:
            labels["cpu-feature.node.kubevirt.io/" + f] = "true"
        for m in keep_m:
            labels["cpu-model.node.kubevirt.io/" + m] = "true"
            labels["cpu-model-migration.node.kubevirt.io/" + m] = "true"
        host = keep_m[-1]
        labels["host-model-cpu.node.kubevirt.io/" + host] = "true"
        for f in (keep_f[:20] if full else keep_f[:2]):
            labels["host-model-required-features.node.kubevirt.io/" + f] = "true"
        for hv in (HYPERV if full else HYPERV[:3]):
            labels["hyperv.node.kubevirt.io/" + hv] = "true"
        for mt in (MACHINES if full else MACHINES[-2:]):
            labels["machine-type.node.kubevirt.io/" + mt] = "true"
        freq = str(2099998000 + gen * 100000000)
        labels["cpu-timer.node.kubevirt.io/tsc-frequency"] = freq
        labels["cpu-timer.node.kubevirt.io/tsc-scalable"] = "true"
        labels["scheduling.node.kubevirt.io/tsc-frequency-" + freq] = "true"
        labels["cpu-vendor.node.kubevirt.io/" + ("Intel" if gen % 2 else "AMD")] = "true"
    elif arch == "arm64":
        for f in ARM_FEATURES:
            labels["cpu-feature.node.kubevirt.io/" + f] = "true"
        for mt in ARM_MACHINES:
            labels["machine-type.node.kubevirt.io/" + mt] = "true"
        labels["host-model-cpu.node.kubevirt.io/host-passthrough"] = "true"
    else:
        for mt in S390_MACHINES:
            labels["machine-type.node.kubevirt.io/" + mt] = "true"
        labels["cpu-model.node.kubevirt.io/gen16a"] = "true"
        labels["host-model-cpu.node.kubevirt.io/gen16a-base"] = "true"
    labels["kubevirt.io/schedulable"] = "true"
    labels["kubevirt.io/ksm-enabled"] = "false"
    labels["kubevirt.io/nodeName"] = ""
    return labels


def node(name, arch, role, gen, full, rng, hb, unschedulable=False, taints=None):
    labels = {
        "beta.kubernetes.io/arch": arch, "beta.kubernetes.io/os": "linux",
        "kubernetes.io/arch": arch, "kubernetes.io/hostname": name, "kubernetes.io/os": "linux",
        "node.kubernetes.io/instance-type": "bm-%s-g%d" % (arch, gen),
        "topology.kubernetes.io/region": "region-1",
        "topology.kubernetes.io/zone": "zone-%d" % (h(name) % 3),
    }
    annotations = {
        "kubeadm.alpha.kubernetes.io/cri-socket": "unix:///var/run/containerd/containerd.sock",
        "node.alpha.kubernetes.io/ttl": "0",
        "volumes.kubernetes.io/controller-managed-attach-detach": "true",
    }
    if role == "worker":
        labels["node-role.kubernetes.io/worker"] = ""
        labels.update(kubevirt_labels(arch, gen, full, rng))
        labels["kubevirt.io/nodeName"] = name
        annotations["kubevirt.io/heartbeat"] = hb
        annotations["node-labeller-nodelabeller.kubevirt.io/obsolete-host-model"] = "false"
    else:
        labels["node-role.kubernetes.io/control-plane"] = ""
        labels["node-role.kubernetes.io/master"] = ""
        taints = (taints or []) + [{"effect": "NoSchedule", "key": "node-role.kubernetes.io/control-plane"}]
    conds = []
    for t, st, reason in (("MemoryPressure", "False", "KubeletHasSufficientMemory"),
                          ("DiskPressure", "False", "KubeletHasNoDiskPressure"),
                          ("PIDPressure", "False", "KubeletHasSufficientPID"),
                          ("Ready", "True", "KubeletReady")):
        conds.append({"lastHeartbeatTime": hb, "lastTransitionTime": T0, "message": reason,
                      "reason": reason, "status": st, "type": t})
    images = [{"names": ["quay.io/kubevirt/virt-launcher@sha256:%064x" % (i * 7919 + gen),
                         "quay.io/kubevirt/virt-launcher:v1.%d.%d" % (i, gen)],
               "sizeBytes": 400000000 + i} for i in range(12)]
    spec = {"podCIDR": "10.%d.%d.0/24" % (h(name) % 250, h(name, "x") % 250)}
    if taints:
        spec["taints"] = taints
    if unschedulable:
        spec["unschedulable"] = True
    return {
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"annotations": annotations, "creationTimestamp": T0, "labels": labels,
                     "name": name, "resourceVersion": "1000",
                     "uid": "%08x-0000-4000-8000-%012x" % (h(name) & 0xffffffff, h(name, "u") * 65537 % (1 << 48))},
        "spec": spec,
        "status": {
            "addresses": [{"address": "192.0.2.1", "type": "InternalIP"}, {"address": name, "type": "Hostname"}],
            "allocatable": {"cpu": "64", "devices.kubevirt.io/kvm": "1k", "memory": "263041024Ki", "pods": "250"},
            "capacity": {"cpu": "64", "devices.kubevirt.io/kvm": "1k", "memory": "263143424Ki", "pods": "250"},
            "conditions": conds,
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
            "images": images,
            "nodeInfo": {"architecture": arch, "bootID": "b-" + name, "containerRuntimeVersion": "cri-o://1.31.4",
                         "kernelVersion": "5.14.0-427.el9.%s" % ("x86_64" if arch == "amd64" else "aarch64" if arch == "arm64" else "s390x"),
                         "kubeProxyVersion": "v1.31.4", "kubeletVersion": "v1.31.4", "machineID": "m-" + name,
                         "operatingSystem": "linux", "osImage": "Red Hat Enterprise Linux CoreOS 418",
                         "systemUUID": "s-" + name},
        },
    }


def worker_arch(i, n):
    r = (i * 2654435761) % 100
    return "amd64" if r < 80 else "arm64" if r < 95 else "s390x"


def nodes(args, rng, hb, churned=()):
    items = []
    for i in range(args.control_planes):
        items.append(node("ctrl-%d" % i, "amd64", "cp", 0, args.labels == "full", rng, hb))
    for i in range(args.workers):
        arch = worker_arch(i, args.workers)
        gen = i % GENERATIONS
        n = node("worker-%05d" % i, arch, "worker", gen, args.labels == "full", rng, hb)
        if i in churned:
            k = rng.randrange(3)
            if k == 0:
                n["metadata"]["labels"]["cpu-timer.node.kubevirt.io/tsc-frequency"] = str(rng.randrange(10**9, 3 * 10**9))
            elif k == 1:
                n["spec"]["taints"] = [{"effect": "NoSchedule", "key": "example.com/maintenance"}]
            else:
                n["spec"]["unschedulable"] = True
        items.append(n)
    return {"apiVersion": "v1", "kind": "List", "metadata": {"resourceVersion": ""}, "items": items}


def datasources(args):
    items = []
    namespaces = ["kubevirt-os-images", "openshift-virtualization-os-images"] + ["team-%02d" % i for i in range(20)]
    i = 0
    while len(items) < args.datasources:
        ns = namespaces[i % len(namespaces)]
        fam = FAMILIES[(i // len(namespaces)) % len(FAMILIES)] + ("" if i < len(namespaces) * len(FAMILIES) else "-%d" % (i // (len(namespaces) * len(FAMILIES))))
        meta = lambda name, labels: {"annotations": {"operator-sdk/primary-resource": "kubevirt-hyperconverged/ssp-kubevirt-hyperconverged",
                                                     "operator-sdk/primary-resource-type": "SSP.ssp.kubevirt.io"},
                                     "creationTimestamp": T0, "generation": 1, "labels": labels,
                                     "name": name, "namespace": ns, "resourceVersion": "6120"}
        common = {"app.kubernetes.io/component": "storage", "app.kubernetes.io/managed-by": "ssp-operator",
                  "app.kubernetes.io/name": "data-sources", "app.kubernetes.io/part-of": "hyperconverged-cluster",
                  "app.kubernetes.io/version": "1.16.0"}
        status = {"conditions": [{"lastHeartbeatTime": T0, "lastTransitionTime": T0, "message": "DataSource is ready to be consumed",
                                  "reason": "Ready", "status": "True", "type": "Ready"}]}
        items.append({"apiVersion": "cdi.kubevirt.io/v1beta1", "kind": "DataSource", "metadata": meta(fam, dict(common)),
                      "spec": {"source": {"dataSource": {"name": fam + "-amd64", "namespace": ns}}}, "status": status})
        for a in ARCHS:
            if len(items) >= args.datasources:
                break
            lab = dict(common)
            lab["template.kubevirt.io/architecture"] = a
            items.append({"apiVersion": "cdi.kubevirt.io/v1beta1", "kind": "DataSource", "metadata": meta(fam + "-" + a, lab),
                          "spec": {"source": {"snapshot": {"name": "%s-%s-3f0c2a7d91b4" % (fam, a), "namespace": ns}}}, "status": status})
        i += 1
    return {"apiVersion": "v1", "kind": "List", "metadata": {"resourceVersion": ""}, "items": items}


def vms(args, rng):
    items = []
    for i in range(args.vms):
        ns = "team-%02d" % (i % 20)
        name = "vm-%05d" % i
        fam = FAMILIES[i % len(FAMILIES)]
        kind = i % 4
        vols = [{"name": "rootdisk", "dataVolume": {"name": name + "-rootdisk"}},
                {"name": "cloudinitdisk", "cloudInitNoCloud": {"userData": "#cloud-config\nuser: fedora\npassword: changeme\nchpasswd: { expire: False }\n"}}]
        dvts = [{"metadata": {"name": name + "-rootdisk"},
                 "spec": {"sourceRef": {"kind": "DataSource", "name": fam, "namespace": "kubevirt-os-images"},
                          "storage": {"resources": {"requests": {"storage": "30Gi"}}}}}]
        spec = {"domain": {"cpu": {"cores": 1, "sockets": 2, "threads": 1},
                           "devices": {"disks": [{"disk": {"bus": "virtio"}, "name": "rootdisk"},
                                                 {"disk": {"bus": "virtio"}, "name": "cloudinitdisk"}],
                                       "interfaces": [{"masquerade": {}, "model": "virtio", "name": "default"}],
                                       "rng": {}},
                           "features": {"acpi": {}, "smm": {"enabled": True}},
                           "firmware": {"bootloader": {"efi": {"secureBoot": False}}},
                           "machine": {"type": "pc-q35-rhel9.4.0"},
                           "memory": {"guest": "4Gi"}},
                "networks": [{"name": "default", "pod": {}}],
                "terminationGracePeriodSeconds": 180,
                "volumes": vols}
        if kind == 1:
            spec["architecture"] = "arm64"
            dvts[0]["spec"]["sourceRef"]["name"] = fam + "-arm64"
        elif kind == 2:
            vols[0] = {"name": "rootdisk", "containerDisk": {"image": "quay.io/containerdisks/%s:latest" % fam}}
            dvts = []
        elif kind == 3:
            vols[0] = {"name": "rootdisk", "persistentVolumeClaim": {"claimName": name + "-pvc"}}
            dvts = []
        running = rng.random() < 0.6
        items.append({"apiVersion": "kubevirt.io/v1", "kind": "VirtualMachine",
                      "metadata": {"annotations": {"kubevirt.io/latest-observed-api-version": "v1",
                                                   "kubevirt.io/storage-observed-api-version": "v1"},
                                   "creationTimestamp": T0, "generation": 1,
                                   "labels": {"app": name, "vm.kubevirt.io/template": fam + "-server-small",
                                              "vm.kubevirt.io/template.namespace": "openshift",
                                              "kubevirt.io/domain": name},
                                   "name": name, "namespace": ns, "resourceVersion": "7000"},
                      "spec": {"dataVolumeTemplates": dvts, "runStrategy": "Always" if running else "Halted",
                               "template": {"metadata": {"labels": {"kubevirt.io/domain": name, "kubevirt.io/size": "small"}},
                                            "spec": spec}},
                      "status": {"printableStatus": "Running" if running else "Stopped", "ready": running,
                                 "created": running}})
    return {"apiVersion": "kubevirt.io/v1", "kind": "VirtualMachineList", "metadata": {"resourceVersion": ""}, "items": items}


HCO = {"apiVersion": "hco.kubevirt.io/v1beta1", "kind": "HyperConverged",
       "metadata": {"name": "kubevirt-hyperconverged", "namespace": "kubevirt-hyperconverged"},
       "spec": {"featureGates": {"enableMultiArchBootImageImport": True}},
       "status": {"nodeInfo": {"workloadsArchitectures": list(ARCHS), "controlPlaneArchitectures": ["amd64"]}}}
KUBEVIRT = {"apiVersion": "kubevirt.io/v1", "kind": "KubeVirt",
            "metadata": {"name": "kubevirt", "namespace": "kubevirt-hyperconverged"},
            "spec": {"configuration": {"developerConfiguration": {"featureGates": []}}},
            "status": {"defaultArchitecture": "amd64", "phase": "Deployed"}}


def write(path, obj):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(obj, f, separators=(",", ":"))
    os.replace(tmp, path)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--workers", type=int, default=5000)
    ap.add_argument("--control-planes", type=int, default=3)
    ap.add_argument("--datasources", type=int, default=2000)
    ap.add_argument("--vms", type=int, default=10000)
    ap.add_argument("--labels", choices=("full", "short"), default="full")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--churn", type=int, default=0)
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    rng = random.Random(args.seed)
    if args.churn:
        crng = random.Random()
        churned = set(crng.sample(range(args.workers), min(args.churn, args.workers)))
        hb = "2026-07-01T10:%02d:%02dZ" % (crng.randrange(60), crng.randrange(60))
        write(os.path.join(args.out, "nodes.json"), nodes(args, crng, hb, churned))
        return
    hb = "2026-07-01T10:02:44Z"
    write(os.path.join(args.out, "nodes.json"), nodes(args, rng, hb))
    write(os.path.join(args.out, "datasources.json"), datasources(args))
    for name, obj in (("hyperconverged.json", HCO), ("kubevirt.json", KUBEVIRT)):
        write(os.path.join(args.out, name), {"apiVersion": "v1", "kind": "List", "metadata": {"resourceVersion": ""},
                                             "items": [obj]})
    write(os.path.join(args.out, "vms.json"), vms(args, rng))


if __name__ == "__main__":
    main()
