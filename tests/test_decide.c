/* test_decide.c - the decision (decide.c) on a table of clusters and VMs: every rule, every
 * image source, every eligibility reason, the mutation and its idempotence, the worked examples,
 * warnings' length and allocation failures. Fixtures are written with single quotes for
 * readability and turned into JSON before use. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <CUnit/CUnit.h>
#include "unit.h"
#include "testutil.h"
#include "decide.h"
#include "cluster.h"
#include "mem.h"
#include "patch.h"
#include "vm.h"

/* ---- fixture building blocks (single-quoted JSON) ---- */

#define GOLD "openshift-virtualization-os-images"

#define NODE(name, arch, labels, spec)                                                              \
    "{'apiVersion':'v1','kind':'Node','metadata':{'name':'" name "','labels':{"                     \
    "'beta.kubernetes.io/arch':'" arch "','kubernetes.io/arch':'" arch "','kubernetes.io/os':'linux'," \
    "'kubernetes.io/hostname':'" name "'" labels "}},'spec':{" spec "},'status':{'nodeInfo':{"      \
    "'architecture':'" arch "','operatingSystem':'linux','kubeletVersion':'v1.31.6'},"              \
    "'conditions':[{'type':'Ready','status':'True','reason':'KubeletReady'}]}}"

#define L_WORKER ",'node-role.kubernetes.io/worker':''"
#define L_KV ",'kubevirt.io/schedulable':'true'"
#define L_CP ",'node-role.kubernetes.io/control-plane':'','node-role.kubernetes.io/master':''"
#define L_X ",'topology.kubernetes.io/zone':'row-1','vms.example.org/pool':'general','cpu-count':'32'"
#define L_A ",'topology.kubernetes.io/zone':'row-2','vms.example.org/pool':'arm-preview','gpu':'a100','cpu-count':'96'"
#define L_Z ",'topology.kubernetes.io/zone':'row-3','vms.example.org/pool':'mainframe','cpu-count':'16'"
#define T_MASTER "'taints':[{'key':'node-role.kubernetes.io/master','effect':'NoSchedule'}]"
#define S_CORDON "'unschedulable':true,'taints':[{'key':'node.kubernetes.io/unschedulable','effect':'NoSchedule','timeAdded':'2026-06-22T09:12:44Z'}]"
#define S_UNREACHABLE "'taints':[{'key':'node.kubernetes.io/unreachable','effect':'NoSchedule','timeAdded':'2026-06-22T09:12:44Z'},{'key':'node.kubernetes.io/unreachable','effect':'NoExecute','timeAdded':'2026-06-22T09:12:49Z'}]"
#define S_DEDICATED "'taints':[{'key':'dedicated','value':'vms','effect':'NoSchedule'}]"
#define S_PREFER "'taints':[{'key':'dedicated','value':'batch','effect':'PreferNoSchedule'}]"

#define N_CTRL NODE("ctrl-x1", "amd64", L_CP, T_MASTER)
#define N_X1 NODE("worker-x1", "amd64", L_WORKER L_KV L_X, "")
#define N_X2 NODE("worker-x2", "amd64", L_WORKER L_KV L_X, "")
#define N_A1 NODE("worker-a1", "arm64", L_WORKER L_KV L_A, "")
#define N_A2 NODE("worker-a2", "arm64", L_WORKER L_KV L_A, "")
#define N_Z1 NODE("worker-z1", "s390x", L_WORKER L_KV L_Z, "")
#define N_Z2 NODE("worker-z2", "s390x", L_WORKER L_KV L_Z, "")

#define HCO_META "'metadata':{'name':'kubevirt-hyperconverged','namespace':'openshift-cnv'}"
#define HCO_B1(gate, extra)                                                                        \
    "{'apiVersion':'hco.kubevirt.io/v1beta1','kind':'HyperConverged'," HCO_META ",'spec':{"        \
    "'featureGates':{'enableMultiArchBootImageImport':" gate ",'downwardMetrics':false}" extra "}}"
#define HCO_V1(spec) "{'apiVersion':'hco.kubevirt.io/v1','kind':'HyperConverged'," HCO_META ",'spec':{" spec "}}"
#define KV(gates, def)                                                                              \
    "{'apiVersion':'kubevirt.io/v1','kind':'KubeVirt','metadata':{'name':'kubevirt-kubevirt-hyperconverged'," \
    "'namespace':'openshift-cnv'},'spec':{'configuration':{'architectureConfiguration':{"            \
    "'defaultArchitecture':'" def "'},'developerConfiguration':{'featureGates':[" gates "]}}},"      \
    "'status':{'defaultArchitecture':'" def "','phase':'Deployed'}}"

#define DS_L(name, arch)                                                                            \
    "{'apiVersion':'cdi.kubevirt.io/v1beta1','kind':'DataSource','metadata':{'name':'" name "',"    \
    "'namespace':'" GOLD "','labels':{'template.kubevirt.io/architecture':'" arch "',"              \
    "'cdi.kubevirt.io/dataImportCron':'" name "-image-cron'}},'spec':{'source':{'snapshot':{"       \
    "'name':'" name "-9bf63c9c7d42','namespace':'" GOLD "'}}}}"
#define DS_P(name, target)                                                                          \
    "{'apiVersion':'cdi.kubevirt.io/v1beta1','kind':'DataSource','metadata':{'name':'" name "',"    \
    "'namespace':'" GOLD "','labels':{'app.kubernetes.io/managed-by':'ssp-operator'}},"            \
    "'spec':{'source':{'dataSource':{'name':'" target "','namespace':'" GOLD "'}}}}"
#define DS_N(name)                                                                                  \
    "{'apiVersion':'cdi.kubevirt.io/v1beta1','kind':'DataSource','metadata':{'name':'" name "',"    \
    "'namespace':'" GOLD "'},'spec':{'source':{'pvc':{'name':'" name "-src','namespace':'" GOLD "'}}}}"
/* labelled and pointing elsewhere (not how SSP makes them): the label wins */
#define DS_LP(name, arch, target)                                                                   \
    "{'apiVersion':'cdi.kubevirt.io/v1beta1','kind':'DataSource','metadata':{'name':'" name "',"    \
    "'namespace':'" GOLD "','labels':{'template.kubevirt.io/architecture':'" arch "'}},"            \
    "'spec':{'source':{'dataSource':{'name':'" target "','namespace':'" GOLD "'}}}}"
#define DATASOURCES                                                                                 \
    DS_LP("rhel9-legacy", "amd64", "rhel9-arm64") "," DS_L("rhel9-legacy-arm64", "arm64") ","      \
    DS_L("rhel9-amd64", "amd64") "," DS_L("rhel9-arm64", "arm64") "," DS_P("rhel9", "rhel9-arm64") "," \
    DS_N("fedora") "," DS_P("fedora-ptr", "fedora") "," DS_P("centos", "centos-arm64") ","          \
    DS_L("centos-arm64", "arm64")

#define PVC(name, labels, annots)                                                                   \
    "{'apiVersion':'v1','kind':'PersistentVolumeClaim','metadata':{'name':'" name "','namespace':'vms'," \
    "'labels':{" labels "},'annotations':{" annots "}},'spec':{'accessModes':['ReadWriteMany'],"   \
    "'resources':{'requests':{'storage':'30Gi'}},'storageClassName':'ocs-storagecluster-ceph-rbd'," \
    "'volumeMode':'Block'},'status':{'phase':'Bound'}}"
#define PVCS                                                                                        \
    PVC("legacy-root", "'template.kubevirt.io/architecture':'s390x'", "") ","                       \
    PVC("imported-root", "", "'cdi.kubevirt.io/storage.import.registryImageArchitecture':'arm64'") "," \
    PVC("existing-dv", "'template.kubevirt.io/architecture':'arm64'", "") ","                       \
    PVC("upload-root", "", "'cdi.kubevirt.io/storage.contentType':'kubevirt'")

#define CPREF(name, spec)                                                                           \
    "{'apiVersion':'instancetype.kubevirt.io/v1beta1','kind':'VirtualMachineClusterPreference',"   \
    "'metadata':{'name':'" name "'},'spec':{" spec "}}"
#define NPREF(name, spec)                                                                           \
    "{'apiVersion':'instancetype.kubevirt.io/v1beta1','kind':'VirtualMachinePreference',"          \
    "'metadata':{'name':'" name "','namespace':'vms'},'spec':{" spec "}}"
#define PREFS                                                                                       \
    CPREF("rhel.9.arm64", "'preferredArchitecture':'arm64','requirements':{'architecture':'arm64'}") "," \
    CPREF("prefers-arm64", "'preferredArchitecture':'arm64'") ","                                  \
    CPREF("prefers-s390x", "'preferredArchitecture':'s390x'") ","                                  \
    NPREF("team-s390x", "'requirements':{'architecture':'s390x'}")

#define OBJS DATASOURCES "," PVCS "," PREFS
#define HCO_ON HCO_B1("true", "")
#define HCO_OFF HCO_B1("false", "")
#define KV_AMD KV("'Snapshot','HotplugVolumes'", "amd64")

#define CL_MIX "[" N_CTRL "," N_X1 "," N_X2 "," N_A1 "," HCO_ON "," KV_AMD "," OBJS "]"
#define CL_MIX_OFF "[" N_CTRL "," N_X1 "," N_X2 "," N_A1 "," HCO_OFF "," KV_AMD "," OBJS "]"
#define CL_MIX_DEFARM "[" N_CTRL "," N_X1 "," N_X2 "," N_A1 "," HCO_ON "," KV("", "arm64") "," OBJS "]"
#define CL_MIX_XARCH "[" N_CTRL "," N_X1 "," N_X2 "," N_A1 "," HCO_ON ","                         \
    KV("'Snapshot','CrossArchitectureVirtualization'", "amd64") "," OBJS "]"
#define CL_MIX_NOHCO "[" N_CTRL "," N_X1 "," N_X2 "," N_A1 "," KV_AMD "," OBJS "]"
#define CL_MIX_V1(spec) "[" N_CTRL "," N_X1 "," N_X2 "," N_A1 "," HCO_V1(spec) "," KV_AMD "," OBJS "]"
#define CL_AMD "[" N_CTRL "," N_X1 "," N_X2 "," HCO_ON "," KV_AMD "," OBJS "]"
#define CL_S390 "[" N_CTRL "," N_Z1 "," N_Z2 "," HCO_ON "," KV_AMD "," OBJS "]"
#define CL_ZA "[" N_CTRL "," N_A1 "," N_Z1 "," N_Z2 "," HCO_ON "," KV_AMD "," OBJS "]"
#define CL_ZA_TIE "[" N_CTRL "," N_A1 "," N_Z1 "," HCO_ON "," KV_AMD "," OBJS "]"
#define CL_CORDON "[" N_CTRL "," NODE("worker-x1", "amd64", L_WORKER L_KV L_X, S_CORDON) "," N_A1 "," N_A2 "," \
    NODE("worker-z1", "s390x", L_WORKER L_KV L_Z, S_CORDON) "," HCO_ON "," KV_AMD "," OBJS "]"
#define CL_NOTREADY "[" N_CTRL "," NODE("worker-x1", "amd64", L_WORKER L_KV L_X, S_UNREACHABLE) "," N_A1 "," \
    HCO_ON "," KV_AMD "," OBJS "]"
#define CL_TAINT(spec) "[" N_CTRL "," NODE("worker-x1", "amd64", L_WORKER L_KV L_X, spec) "," N_A1 "," \
    HCO_ON "," KV_AMD "," OBJS "]"
/* Issue 15: three amd64 workers, two arm64 workers held back (cordoned or not ready or, with _OK,
 * eligible); _Z adds one s390x worker held back the same way. No s390x node otherwise. */
#define S_NOTREADY "'taints':[{'key':'node.kubernetes.io/not-ready','effect':'NoSchedule','timeAdded':'2026-06-22T09:12:44Z'}]"
#define N_X3 NODE("worker-x3", "amd64", L_WORKER L_KV L_X, "")
#define CL_HELD_ARM(spec, more) "[" N_CTRL "," N_X1 "," N_X2 "," N_X3 "," NODE("worker-a1", "arm64", L_WORKER L_KV L_A, spec) \
    "," NODE("worker-a2", "arm64", L_WORKER L_KV L_A, spec) more "," HCO_ON "," KV_AMD "," OBJS "]"
#define CL_ARM_CORD CL_HELD_ARM(S_CORDON, "")
#define CL_ARM_NOTREADY CL_HELD_ARM(S_NOTREADY, "")
#define CL_ARM_OK CL_HELD_ARM("", "")
#define CL_ARM_CORD_Z CL_HELD_ARM(S_CORDON, "," NODE("worker-z1", "s390x", L_WORKER L_KV L_Z, S_CORDON))
#define CL_ARM_NOTREADY_Z CL_HELD_ARM(S_NOTREADY, "," NODE("worker-z1", "s390x", L_WORKER L_KV L_Z, S_NOTREADY))
#define CL_B1_PLACE(place) "[" N_CTRL "," N_X1 "," N_X2 "," N_A1 "," HCO_B1("true", ",'workloads':{'nodePlacement':{" place "}}") \
    "," KV_AMD "," OBJS "]"
#define AFF_POOL_GENERAL                                                                            \
    "'affinity':{'nodeAffinity':{'requiredDuringSchedulingIgnoredDuringExecution':{'nodeSelectorTerms':[" \
    "{'matchExpressions':[{'key':'vms.example.org/pool','operator':'In','values':['general']}]}]}}}"
#define CL_V1_PLACE CL_MIX_V1("'deployment':{'nodePlacements':{'infra':{},'workload':{" AFF_POOL_GENERAL "}}}," \
    "'workloadSources':{'enableCommonBootImageImport':true,'enableMultiArchBootImageImport':true}")
#define CL_INFRA_ARM "[" N_CTRL "," N_X1 "," NODE("infra-a1", "arm64", L_KV ",'node-role.kubernetes.io/infra':''", "") \
    "," HCO_ON "," KV_AMD "," OBJS "]"
#define CL_NO_ROLES "[" NODE("node-x1", "amd64", "", "") "," NODE("node-a1", "arm64", "", "") "," HCO_ON "," OBJS "]"
#define CL_KV_FALSE "[" N_CTRL "," N_X1 "," NODE("worker-a1", "arm64", L_WORKER ",'kubevirt.io/schedulable':'false'", "") \
    "," HCO_ON "," KV_AMD "," OBJS "]"

#define CATALOG                                                                                     \
    "{'images':{'quay.io/containerdisks/fedora:41':['arm64'],'registry.example.com/vms/':['amd64','arm64']}}"

/* VMs */
#define VM_(annots, top, tspec, dvts)                                                               \
    "{'apiVersion':'kubevirt.io/v1','kind':'VirtualMachine','metadata':{'name':'vm1','namespace':'vms'," \
    "'labels':{'app':'vm1'},'annotations':{" annots "}},'spec':{'runStrategy':'Always'" top ","     \
    "'dataVolumeTemplates':[" dvts "],'template':{'metadata':{'labels':{'kubevirt.io/domain':'vm1'}}," \
    "'spec':{'domain':{'cpu':{'cores':2},'devices':{'disks':[{'name':'rootdisk','disk':{'bus':'virtio'}}]}," \
    "'memory':{'guest':'4Gi'}}," tspec "}}}}"
#define DVT_DS(ds)                                                                                  \
    "{'apiVersion':'cdi.kubevirt.io/v1beta1','kind':'DataVolume','metadata':{'name':'vm1-root'},"  \
    "'spec':{'sourceRef':{'kind':'DataSource','name':'" ds "','namespace':'" GOLD "'},"             \
    "'storage':{'resources':{'requests':{'storage':'30Gi'}}}}}"
#define DVT_REG(url, plat)                                                                          \
    "{'metadata':{'name':'vm1-root'},'spec':{'source':{'registry':{'url':'" url "'" plat "}},"      \
    "'storage':{'resources':{'requests':{'storage':'30Gi'}}}}}"
#define V_ROOT "'volumes':[{'name':'rootdisk','dataVolume':{'name':'vm1-root'}},"                  \
    "{'name':'cloudinitdisk','cloudInitNoCloud':{'userData':'#cloud-config\\nuser: cloud-user\\n'}}]"
#define V_PVC(claim) "'volumes':[{'name':'rootdisk','persistentVolumeClaim':{'claimName':'" claim "'}}]"
#define V_DV(name) "'volumes':[{'name':'rootdisk','dataVolume':{'name':'" name "'}}]"
#define V_CD(img) "'volumes':[{'name':'rootdisk','containerDisk':{'image':'" img "'}}]"
#define V_BUSYBOX V_CD("docker.io/library/busybox:1.36")
/* A VM booting DataSource `ds`; `extra` is more of the template spec, ending with ',' */
#define VM_DS(ds, extra) VM_("", "", extra V_ROOT, DVT_DS(ds))
#define VM_VOL(extra, vols) VM_("", "", extra vols, "")
#define VMI(spec)                                                                                   \
    "{'apiVersion':'kubevirt.io/v1','kind':'VirtualMachineInstance','metadata':{'name':'vmi1','namespace':'vms'}," \
    "'spec':{'domain':{'devices':{'disks':[{'name':'rootdisk','disk':{'bus':'virtio'}}]},'memory':{'guest':'2Gi'}}," \
    spec "}}"

#define SEL(k, v) "'nodeSelector':{'" k "':'" v "'},"
#define AFF(term) "'affinity':{'nodeAffinity':{'requiredDuringSchedulingIgnoredDuringExecution':{'nodeSelectorTerms':[" term "]}}},"
#define EXPR(k, op, vals) "{'matchExpressions':[{'key':'" k "','operator':'" op "'" vals "}]}"

#define CENSUS_MIX "eligible: 2 amd64, 1 arm64; 1 amd64 excluded by the workload node placement"
#define CENSUS_AMD "eligible: 2 amd64; 1 amd64 excluded by the workload node placement"

#define F_ARCH "spec.template.spec.architecture"
#define F_VOLS "spec.template.spec.volumes"
#define F_SEL "spec.template.spec.nodeSelector"
#define F_ANNOT "metadata.annotations[archgate.io/image-architectures]"
#define P_NS "/spec/template/spec/nodeSelector"
#define P_ARCH "/spec/template/spec/architecture"
#define MSG_UNKNOWN "the boot image architecture is unknown; the VM may be scheduled on a node that cannot boot it"
#define MSG_HETERO "workload nodes span several architectures but multi-architecture boot images are disabled"
#define MSG_HELD "can only run on cordoned or not-ready nodes"

/* ---- the table ---- */

struct xop { const char *op, *path, *key, *value; };

struct dcase {
    const char *name;
    const char *cluster;
    const char *object;
    bool is_vmi, mutate, out_of_scope;
    struct policy pol;
    const char *old_object;          /* UPDATE when set */
    /* expectations */
    enum verdict_class cls;          /* VC_DENIED: allowed false */
    const char *fields[6];           /* the causes' fields, in order */
    int nwarn;                       /* exact number of warnings (allowed answers) */
    const char *has[5];              /* substrings of the message (denied) or of some warning */
    struct xop ops[4];               /* the exact patch */
    bool cut;                        /* a warning was cut to fit (ends with "...") */
};

#define ON { MULTI_ARCH_ON, UNKNOWN_IMAGE_WARN }
#define OFF { MULTI_ARCH_OFF, UNKNOWN_IMAGE_WARN }
#define NS_ADD(a) { "add", P_NS, "kubernetes.io/arch", a }
#define ARCH_ADD(a) { "add", P_ARCH, NULL, a }

static const struct dcase cases[] = {
    /* ---- image sources ---- */
    { .name = "DataSource label: arm64 image, an arm64 node is eligible", .cluster = CL_MIX,
      .object = VM_DS("rhel9-arm64", ""), .cls = VC_ALLOWED },
    { .name = "rule 3: arm64 image, no arm64 node", .cluster = CL_AMD, .object = VM_DS("rhel9-arm64", ""),
      .cls = VC_DENIED, .fields = { F_VOLS },
      .has = { "image DataSource " GOLD "/rhel9-arm64 (arm64) is built for arm64, but no eligible node runs arm64 ("
               CENSUS_AMD ")" } },
    { .name = "DataSource pointer followed one hop", .cluster = CL_AMD, .object = VM_DS("rhel9", ""),
      .cls = VC_DENIED, .fields = { F_VOLS }, .has = { "image DataSource " GOLD "/rhel9 (arm64) is built for arm64" } },
    { .name = "pointer to an unlabelled DataSource: unknown", .cluster = CL_MIX, .object = VM_DS("fedora-ptr", ""),
      .cls = VC_WARNED, .nwarn = 1, .has = { MSG_UNKNOWN } },
    { .name = "DataSource with neither label nor pointer: unknown", .cluster = CL_MIX, .object = VM_DS("fedora", ""),
      .cls = VC_WARNED, .nwarn = 1, .has = { MSG_UNKNOWN } },
    { .name = "missing DataSource: unknown", .cluster = CL_MIX, .object = VM_DS("no-such-image", ""),
      .cls = VC_WARNED, .nwarn = 1, .has = { MSG_UNKNOWN } },
    { .name = "registry platform aarch64 normalised to arm64", .cluster = CL_AMD,
      .object = VM_("", "", V_ROOT, DVT_REG("docker://quay.io/containerdisks/fedora:41", ",'platform':{'architecture':'aarch64'}")),
      .cls = VC_DENIED, .fields = { F_VOLS },
      .has = { "image registry image docker://quay.io/containerdisks/fedora:41 (arm64) is built for arm64" } },
    { .name = "registry without platform: unknown", .cluster = CL_MIX,
      .object = VM_("", "", V_ROOT, DVT_REG("docker://quay.io/containerdisks/fedora:41", "")),
      .cls = VC_WARNED, .nwarn = 1, .has = { MSG_UNKNOWN } },
    { .name = "PVC label", .cluster = CL_MIX, .object = VM_VOL("", V_PVC("legacy-root")),
      .cls = VC_DENIED, .fields = { F_VOLS },
      .has = { "image PVC vms/legacy-root (s390x) is built for s390x, but no eligible node runs s390x (" CENSUS_MIX ")" } },
    { .name = "PVC CDI import annotation", .cluster = CL_AMD, .object = VM_VOL("", V_PVC("imported-root")),
      .cls = VC_DENIED, .fields = { F_VOLS }, .has = { "image PVC vms/imported-root (arm64) is built for arm64" } },
    { .name = "dataVolume naming an existing claim", .cluster = CL_AMD, .object = VM_VOL("", V_DV("existing-dv")),
      .cls = VC_DENIED, .fields = { F_VOLS }, .has = { "image PVC vms/existing-dv (arm64)" } },
    { .name = "PVC with neither label nor annotation: unknown", .cluster = CL_MIX,
      .object = VM_VOL("", V_PVC("upload-root")), .cls = VC_WARNED, .nwarn = 1, .has = { MSG_UNKNOWN } },
    { .name = "containerDisk exact catalog entry", .cluster = CL_AMD,
      .object = VM_VOL("", V_CD("quay.io/containerdisks/fedora:41")), .cls = VC_DENIED, .fields = { F_VOLS },
      .has = { "image containerDisk image quay.io/containerdisks/fedora:41 (arm64) is built for arm64" } },
    { .name = "containerDisk catalog prefix, two architectures", .cluster = CL_S390,
      .object = VM_VOL("", V_CD("registry.example.com/vms/rhel:9.4")), .cls = VC_DENIED, .fields = { F_VOLS },
      .has = { "image containerDisk image registry.example.com/vms/rhel:9.4 (amd64, arm64) is built for amd64, arm64, "
               "but no eligible node runs amd64 or arm64 (eligible: 2 s390x; 1 amd64 excluded by the workload node placement)" } },
    { .name = "containerDisk not in the catalog: unknown", .cluster = CL_MIX, .object = VM_VOL("", V_BUSYBOX),
      .cls = VC_WARNED, .nwarn = 1, .has = { MSG_UNKNOWN } },
    { .name = "annotation overrides the images", .cluster = CL_AMD,
      .object = VM_("'archgate.io/image-architectures':'arm64'", "", V_ROOT, DVT_DS("rhel9-amd64")),
      .cls = VC_DENIED, .fields = { F_VOLS },
      .has = { "image annotation archgate.io/image-architectures (arm64) is built for arm64" } },
    { .name = "annotation with a list overrides an unknown image", .cluster = CL_MIX,
      .object = VM_("'archgate.io/image-architectures':' amd64, arm64'", "", V_BUSYBOX, ""), .cls = VC_ALLOWED },
    { .name = "annotation that is not a list of architectures", .cluster = CL_MIX,
      .object = VM_("'archgate.io/image-architectures':'arm64,sparc'", "", V_ROOT, DVT_DS("rhel9-amd64")),
      .cls = VC_DENIED, .fields = { F_ANNOT },
      .has = { "annotation archgate.io/image-architectures \"arm64,sparc\" is not a comma list of architectures" } },
    { .name = "boot disks that disagree", .cluster = CL_MIX,
      .object = VM_("", "", "'volumes':[{'name':'rootdisk','dataVolume':{'name':'vm1-root'}},"
                    "{'name':'datadisk','persistentVolumeClaim':{'claimName':'legacy-root'}}]", DVT_DS("rhel9-amd64")),
      .cls = VC_DENIED, .fields = { F_VOLS },
      .has = { "the boot disks disagree on architecture: DataSource " GOLD "/rhel9-amd64 (amd64), PVC vms/legacy-root "
               "(s390x); one VM cannot boot images of different architectures" } },
    { .name = "two images that agree are listed together", .cluster = CL_AMD,
      .object = VM_("", "", "'volumes':[{'name':'rootdisk','dataVolume':{'name':'vm1-root'}},"
                    "{'name':'tools','containerDisk':{'image':'registry.example.com/vms/tools:1'}}]", DVT_DS("rhel9-arm64")),
      .cls = VC_DENIED, .fields = { F_VOLS },
      .has = { "images DataSource " GOLD "/rhel9-arm64 (arm64), containerDisk image registry.example.com/vms/tools:1 "
               "(amd64, arm64) is built for arm64, but no eligible node runs arm64" } },

    /* ---- requested architecture and rules 1, 2, 4 ---- */
    { .name = "rule 1 alone: architecture contradicts the image", .cluster = CL_MIX,
      .object = VM_DS("rhel9-arm64", "'architecture':'amd64',"), .cls = VC_DENIED, .fields = { F_ARCH },
      .has = { "architecture amd64 does not match the boot image: image DataSource " GOLD
               "/rhel9-arm64 (arm64) is built for arm64" } },
    { .name = "aarch64 normalised to arm64", .cluster = CL_MIX, .object = VM_DS("rhel9-amd64", "'architecture':'aarch64',"),
      .cls = VC_DENIED, .fields = { F_ARCH }, .has = { "architecture arm64 does not match the boot image" } },
    { .name = "x86_64 matches an amd64 image", .cluster = CL_MIX,
      .object = VM_DS("rhel9-amd64", "'architecture':'x86_64',"), .cls = VC_ALLOWED },
    { .name = "unsupported architecture", .cluster = CL_MIX, .object = VM_DS("rhel9-amd64", "'architecture':'ppc64le',"),
      .cls = VC_DENIED, .fields = { F_ARCH },
      .has = { "architecture \"ppc64le\" is not supported (use amd64, arm64 or s390x)" } },
    { .name = "unknown architecture name", .cluster = CL_MIX, .object = VM_VOL("'architecture':'sparc64',", V_BUSYBOX),
      .cls = VC_DENIED, .fields = { F_ARCH }, .has = { "architecture \"sparc64\" is not supported" } },
    { .name = "rule 2: nodeSelector contradicts architecture (with rule 4)", .cluster = CL_MIX,
      .object = VM_VOL("'architecture':'arm64'," SEL("kubernetes.io/arch", "amd64"), V_BUSYBOX),
      .cls = VC_DENIED, .fields = { F_SEL, F_ARCH },
      .has = { "nodeSelector kubernetes.io/arch=amd64 contradicts architecture arm64; KubeVirt would schedule the VM on amd64 nodes",
               "architecture arm64 is requested, but no eligible node runs arm64 (eligible: 2 amd64; 1 amd64 excluded by the "
               "workload node placement; 1 arm64 excluded by the VM's nodeSelector)" } },
    { .name = "rule 4 alone: no node runs the requested architecture", .cluster = CL_MIX,
      .object = VM_VOL("'architecture':'s390x',", V_BUSYBOX), .cls = VC_DENIED, .fields = { F_ARCH },
      .has = { "architecture s390x is requested, but no eligible node runs s390x (" CENSUS_MIX ")" } },
    { .name = "rules 1, 3 and 4 together", .cluster = CL_AMD, .object = VM_DS("rhel9-arm64", "'architecture':'s390x',"),
      .cls = VC_DENIED, .fields = { F_ARCH, F_VOLS, F_ARCH },
      .has = { "architecture s390x does not match the boot image", "; image DataSource " GOLD "/rhel9-arm64 (arm64) is built",
               "; architecture s390x is requested, but no eligible node runs s390x" } },
    { .name = "rules 1 to 4 together", .cluster = CL_MIX,
      .object = VM_DS("rhel9-arm64", "'architecture':'s390x'," SEL("kubernetes.io/arch", "amd64")),
      .cls = VC_DENIED, .fields = { F_ARCH, F_SEL, F_VOLS, F_ARCH },
      .has = { "does not match the boot image", "contradicts architecture s390x", "no eligible node runs arm64",
               "no eligible node runs s390x" } },
    { .name = "rule 4 skipped when rule 3 already names the architecture", .cluster = CL_AMD,
      .object = VM_DS("rhel9-arm64", "'architecture':'arm64',"), .cls = VC_DENIED, .fields = { F_VOLS } },
    { .name = "cluster preference requirement gives R", .cluster = CL_MIX,
      .object = VM_("", ",'preference':{'kind':'VirtualMachineClusterPreference','name':'rhel.9.arm64'}", V_ROOT,
                    DVT_DS("rhel9-amd64")),
      .cls = VC_DENIED, .fields = { F_ARCH }, .has = { "architecture arm64 does not match the boot image" } },
    { .name = "namespaced preference requirement gives R", .cluster = CL_MIX,
      .object = VM_("", ",'preference':{'kind':'VirtualMachinePreference','name':'team-s390x'}", V_BUSYBOX, ""),
      .cls = VC_DENIED, .fields = { F_ARCH }, .has = { "architecture s390x is requested" } },
    { .name = "cluster kind does not find a namespaced preference", .cluster = CL_MIX,
      .object = VM_("", ",'preference':{'name':'team-s390x'}", V_BUSYBOX, ""),
      .cls = VC_WARNED, .nwarn = 1, .has = { MSG_UNKNOWN } },
    { .name = "architecture wins over the preference", .cluster = CL_MIX,
      .object = VM_("", ",'preference':{'name':'rhel.9.arm64'}", "'architecture':'amd64'," V_ROOT, DVT_DS("rhel9-amd64")),
      .cls = VC_ALLOWED },

    /* ---- held nodes ---- */
    { .name = "cordoned node only: warning", .cluster = CL_CORDON, .object = VM_DS("rhel9-amd64", ""),
      .cls = VC_WARNED, .nwarn = 1, .has = { "image DataSource " GOLD "/rhel9-amd64 (amd64) " MSG_HELD } },
    { .name = "not-ready node only: warning", .cluster = CL_NOTREADY, .object = VM_DS("rhel9-amd64", ""),
      .cls = VC_WARNED, .nwarn = 1,
      .has = { "image DataSource " GOLD "/rhel9-amd64 (amd64) " MSG_HELD } },
    { .name = "rule 4 on a cordoned-only architecture: warning", .cluster = CL_CORDON,
      .object = VM_VOL("'architecture':'s390x',", V_BUSYBOX), .cls = VC_WARNED, .nwarn = 1,
      .has = { "architecture s390x " MSG_HELD } },
    /* ---- issue 15: rules 3 and 4 each judged on its own ---- */
#define ANN_AZ "'archgate.io/image-architectures':'arm64,s390x'"
#define VM_ANN(ann, extra) VM_(ann, "", extra V_BUSYBOX, "")
#define CENSUS_ARM_CORD "eligible: 3 amd64; 2 arm64 cordoned; 1 amd64 excluded by the workload node placement"
#define CENSUS_ARM_NR "eligible: 3 amd64; 2 arm64 not ready; 1 amd64 excluded by the workload node placement"
    { .name = "15: R with no node, image's other architecture cordoned: denied", .cluster = CL_ARM_CORD,
      .object = VM_ANN(ANN_AZ, "'architecture':'s390x',"), .cls = VC_DENIED, .fields = { F_ARCH },
      .has = { "architecture s390x is requested, but no eligible node runs s390x (" CENSUS_ARM_CORD ")" } },
    { .name = "15: R with no node, image's other architecture not ready: denied", .cluster = CL_ARM_NOTREADY,
      .object = VM_ANN(ANN_AZ, "'architecture':'s390x',"), .cls = VC_DENIED, .fields = { F_ARCH },
      .has = { "architecture s390x is requested, but no eligible node runs s390x (" CENSUS_ARM_NR ")" } },
    { .name = "15: R with no node, the not-ready taint tolerated: still denied", .cluster = CL_ARM_NOTREADY,
      .object = VM_ANN(ANN_AZ, "'architecture':'s390x','tolerations':[{'key':'node.kubernetes.io/not-ready','operator':'Exists'}],"),
      .cls = VC_DENIED, .fields = { F_ARCH }, .has = { "architecture s390x is requested, but no eligible node runs s390x" } },
    { .name = "15: R with no node, image's other architecture eligible: denied", .cluster = CL_ARM_OK,
      .object = VM_ANN(ANN_AZ, "'architecture':'s390x',"), .cls = VC_DENIED, .fields = { F_ARCH },
      .has = { "architecture s390x is requested, but no eligible node runs s390x (eligible: 3 amd64, 2 arm64;" } },
    { .name = "15: R with no node and not in the image set: rules 1 and 4", .cluster = CL_ARM_CORD,
      .object = VM_ANN("'archgate.io/image-architectures':'arm64'", "'architecture':'s390x',"), .cls = VC_DENIED,
      .fields = { F_ARCH, F_ARCH },
      .has = { "architecture s390x does not match the boot image: image annotation archgate.io/image-architectures (arm64) "
               "is built for arm64", "; architecture s390x is requested, but no eligible node runs s390x" } },
    { .name = "15: R with no node, unknown image: denied", .cluster = CL_ARM_CORD,
      .object = VM_VOL("'architecture':'s390x',", V_BUSYBOX), .cls = VC_DENIED, .fields = { F_ARCH },
      .has = { "architecture s390x is requested, but no eligible node runs s390x (" CENSUS_ARM_CORD ")" } },
    { .name = "15: R with no node, image with no node either: one cause names both", .cluster = CL_AMD,
      .object = VM_ANN(ANN_AZ, "'architecture':'s390x',"), .cls = VC_DENIED, .fields = { F_VOLS },
      .has = { "is built for arm64, s390x, but no eligible node runs arm64 or s390x" } },
    { .name = "15: R cordoned-only, in the image set: one warning", .cluster = CL_ARM_CORD,
      .object = VM_ANN(ANN_AZ, "'architecture':'arm64',"), .cls = VC_WARNED, .nwarn = 1,
      .has = { "image annotation archgate.io/image-architectures (arm64, s390x) " MSG_HELD } },
    { .name = "15: R not-ready-only, in the image set: one warning", .cluster = CL_ARM_NOTREADY,
      .object = VM_ANN(ANN_AZ, "'architecture':'arm64',"), .cls = VC_WARNED, .nwarn = 1,
      .has = { "image annotation archgate.io/image-architectures (arm64, s390x) " MSG_HELD } },
    { .name = "15: R not-ready-only, the taint tolerated: allowed", .cluster = CL_ARM_NOTREADY,
      .object = VM_ANN(ANN_AZ, "'architecture':'arm64','tolerations':[{'key':'node.kubernetes.io/not-ready','operator':'Exists'}],"),
      .cls = VC_ALLOWED },
    { .name = "15: R eligible, in the image set: allowed", .cluster = CL_ARM_OK,
      .object = VM_ANN(ANN_AZ, "'architecture':'arm64',"), .cls = VC_ALLOWED },
    { .name = "15: R eligible, not in the image set whose nodes are cordoned: rule 1 only", .cluster = CL_ARM_CORD,
      .object = VM_ANN(ANN_AZ, "'architecture':'amd64',"), .cls = VC_DENIED, .fields = { F_ARCH },
      .has = { "architecture amd64 does not match the boot image" } },
    { .name = "15: R cordoned-only, the image's other architecture cordoned too: one warning", .cluster = CL_ARM_CORD_Z,
      .object = VM_ANN(ANN_AZ, "'architecture':'s390x',"), .cls = VC_WARNED, .nwarn = 1,
      .has = { "image annotation archgate.io/image-architectures (arm64, s390x) " MSG_HELD } },
    { .name = "15: R not-ready-only, the image's other architecture not ready too: one warning", .cluster = CL_ARM_NOTREADY_Z,
      .object = VM_ANN(ANN_AZ, "'architecture':'s390x',"), .cls = VC_WARNED, .nwarn = 1,
      .has = { "image annotation archgate.io/image-architectures (arm64, s390x) " MSG_HELD } },
    { .name = "15: R cordoned-only, the image's other architecture eligible: rule 4 warns", .cluster = CL_CORDON,
      .object = VM_ANN(ANN_AZ, "'architecture':'s390x',"), .cls = VC_WARNED, .nwarn = 1,
      .has = { "architecture s390x " MSG_HELD } },
    { .name = "15: R cordoned-only, not in the image set: rule 1 denies", .cluster = CL_ARM_CORD_Z,
      .object = VM_ANN("'archgate.io/image-architectures':'amd64'", "'architecture':'s390x',"), .cls = VC_DENIED,
      .fields = { F_ARCH }, .has = { "architecture s390x does not match the boot image" } },
    { .name = "15: no R, image only on cordoned nodes: warning", .cluster = CL_ARM_CORD,
      .object = VM_ANN(ANN_AZ, ""), .cls = VC_WARNED, .nwarn = 1,
      .has = { "image annotation archgate.io/image-architectures (arm64, s390x) " MSG_HELD } },
    { .name = "15: R with no node, from a preference requirement: denied", .cluster = CL_ARM_CORD,
      .object = VM_(ANN_AZ, ",'preference':{'kind':'VirtualMachinePreference','name':'team-s390x'}", V_BUSYBOX, ""),
      .cls = VC_DENIED, .fields = { F_ARCH }, .has = { "architecture s390x is requested" } },
    { .name = "15: VMI, R with no node, image's other architecture cordoned: denied", .cluster = CL_ARM_CORD, .is_vmi = true,
      .object = "{'apiVersion':'kubevirt.io/v1','kind':'VirtualMachineInstance','metadata':{'name':'vmi1','namespace':'vms',"
                "'annotations':{" ANN_AZ "}},'spec':{'architecture':'s390x','domain':{'devices':{}}," V_BUSYBOX "}}",
      .cls = VC_DENIED, .fields = { "spec.architecture" }, .has = { "architecture s390x is requested" } },
    { .name = "warning cut on a UTF-8 boundary", .cluster = CL_CORDON,
      .object = VM_("", "", V_ROOT, DVT_REG("docker://x\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
                    "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
                    "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
                    "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
                    "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9",
                    ",'platform':{'architecture':'amd64'}")),
      .cls = VC_WARNED, .nwarn = 1, .has = { "image registry image docker://x\xc3\xa9" }, .cut = true },

    /* ---- eligibility ---- */
    { .name = "PreferNoSchedule taint does not exclude", .cluster = CL_TAINT(S_PREFER),
      .object = VM_DS("rhel9-amd64", ""), .cls = VC_ALLOWED },
    { .name = "NoSchedule taint excludes", .cluster = CL_TAINT(S_DEDICATED), .object = VM_DS("rhel9-amd64", ""),
      .cls = VC_DENIED, .fields = { F_VOLS }, .has = { "1 amd64 excluded by taints the VM does not tolerate" } },
    { .name = "toleration admits the tainted node", .cluster = CL_TAINT(S_DEDICATED),
      .object = VM_DS("rhel9-amd64", "'tolerations':[{'key':'dedicated','operator':'Equal','value':'vms','effect':'NoSchedule'}],"),
      .cls = VC_ALLOWED },
    { .name = "VM nodeSelector excludes", .cluster = CL_MIX,
      .object = VM_DS("rhel9-amd64", SEL("vms.example.org/pool", "arm-preview")), .cls = VC_DENIED, .fields = { F_VOLS },
      .has = { "2 amd64 excluded by the VM's nodeSelector" } },
    { .name = "affinity In", .cluster = CL_MIX,
      .object = VM_DS("rhel9-amd64", AFF(EXPR("topology.kubernetes.io/zone", "In", ",'values':['row-2']"))),
      .cls = VC_DENIED, .fields = { F_VOLS }, .has = { "2 amd64 excluded by the VM's node affinity" } },
    { .name = "affinity In keeping the image's node", .cluster = CL_MIX,
      .object = VM_DS("rhel9-arm64", AFF(EXPR("topology.kubernetes.io/zone", "In", ",'values':['row-2','row-9']"))),
      .cls = VC_ALLOWED },
    { .name = "affinity NotIn", .cluster = CL_MIX,
      .object = VM_DS("rhel9-arm64", AFF(EXPR("kubernetes.io/arch", "NotIn", ",'values':['arm64']"))),
      .cls = VC_DENIED, .fields = { F_VOLS }, .has = { "1 arm64 excluded by the VM's node affinity" } },
    { .name = "affinity Exists", .cluster = CL_MIX, .object = VM_DS("rhel9-amd64", AFF(EXPR("gpu", "Exists", ""))),
      .cls = VC_DENIED, .fields = { F_VOLS }, .has = { "2 amd64 excluded by the VM's node affinity" } },
    { .name = "affinity DoesNotExist", .cluster = CL_MIX, .object = VM_DS("rhel9-arm64", AFF(EXPR("gpu", "DoesNotExist", ""))),
      .cls = VC_DENIED, .fields = { F_VOLS }, .has = { "1 arm64 excluded by the VM's node affinity" } },
    { .name = "affinity Gt", .cluster = CL_MIX,
      .object = VM_DS("rhel9-amd64", AFF(EXPR("cpu-count", "Gt", ",'values':['64']"))),
      .cls = VC_DENIED, .fields = { F_VOLS }, .has = { "2 amd64 excluded by the VM's node affinity" } },
    { .name = "affinity Lt", .cluster = CL_MIX,
      .object = VM_DS("rhel9-arm64", AFF(EXPR("cpu-count", "Lt", ",'values':['64']"))),
      .cls = VC_DENIED, .fields = { F_VOLS }, .has = { "1 arm64 excluded by the VM's node affinity" } },
    { .name = "affinity matchFields", .cluster = CL_MIX,
      .object = VM_DS("rhel9-amd64", AFF("{'matchFields':[{'key':'metadata.name','operator':'In','values':['worker-a1']}]}")),
      .cls = VC_DENIED, .fields = { F_VOLS }, .has = { "2 amd64 excluded by the VM's node affinity" } },
    { .name = "HCO v1beta1 workload placement", .cluster = CL_B1_PLACE("'nodeSelector':{'vms.example.org/pool':'general'}"),
      .object = VM_DS("rhel9-arm64", ""), .cls = VC_DENIED, .fields = { F_VOLS },
      .has = { "1 arm64 excluded by the workload node placement" } },
    { .name = "HCO placement with tolerations only is ignored",
      .cluster = CL_B1_PLACE("'tolerations':[{'key':'dedicated','operator':'Exists'}]"),
      .object = VM_DS("rhel9-arm64", ""), .cls = VC_ALLOWED },
    { .name = "HCO v1 workload placement", .cluster = CL_V1_PLACE, .object = VM_DS("rhel9-arm64", ""),
      .cls = VC_DENIED, .fields = { F_VOLS },
      .has = { "no eligible node runs arm64 (eligible: 2 amd64; 1 amd64 excluded by the workload node placement; "
               "1 arm64 excluded by the workload node placement)" } },
    { .name = "worker-label rule", .cluster = CL_INFRA_ARM, .object = VM_DS("rhel9-arm64", ""),
      .cls = VC_DENIED, .fields = { F_VOLS }, .has = { "1 arm64 excluded by the workload node placement" } },
    { .name = "all nodes when none is labelled worker", .cluster = CL_NO_ROLES, .object = VM_DS("rhel9-arm64", ""),
      .cls = VC_ALLOWED },
    { .name = "kubevirt.io/schedulable rule", .cluster = CL_KV_FALSE, .object = VM_DS("rhel9-arm64", ""),
      .cls = VC_DENIED, .fields = { F_VOLS }, .has = { "1 arm64 without kubevirt.io/schedulable=true" } },

    /* ---- unknown image policy, heterogeneous warning, scope ---- */
    { .name = "unknown image, --unknown-image=allow", .cluster = CL_MIX, .object = VM_VOL("", V_PVC("upload-root")),
      .pol = { MULTI_ARCH_AUTO, UNKNOWN_IMAGE_ALLOW }, .cls = VC_ALLOWED },
    { .name = "unknown image, --unknown-image=warn", .cluster = CL_MIX, .object = VM_VOL("", V_PVC("upload-root")),
      .pol = { MULTI_ARCH_AUTO, UNKNOWN_IMAGE_WARN }, .cls = VC_WARNED, .nwarn = 1, .has = { MSG_UNKNOWN } },
    { .name = "unknown image, --unknown-image=deny", .cluster = CL_MIX, .object = VM_VOL("", V_PVC("upload-root")),
      .pol = { MULTI_ARCH_AUTO, UNKNOWN_IMAGE_DENY }, .cls = VC_DENIED, .fields = { F_VOLS },
      .has = { "the boot image architecture is unknown (PVC vms/upload-root) and unknown images are refused; label the "
               "DataSource or PVC with template.kubevirt.io/architecture or set spec.template.spec.architecture" } },
    { .name = "unknown image with R set: no unknown-image rule", .cluster = CL_MIX,
      .object = VM_VOL("'architecture':'amd64',", V_PVC("upload-root")), .pol = { MULTI_ARCH_AUTO, UNKNOWN_IMAGE_DENY },
      .cls = VC_ALLOWED },
    { .name = "heterogeneous warning on /validate", .cluster = CL_MIX, .object = VM_DS("rhel9-amd64", ""), .pol = OFF,
      .cls = VC_WARNED, .nwarn = 1, .has = { MSG_HETERO } },
    { .name = "no heterogeneous warning on a one-architecture cluster", .cluster = CL_AMD,
      .object = VM_DS("rhel9-amd64", ""), .pol = OFF, .cls = VC_ALLOWED },
    { .name = "no heterogeneous warning while multi-arch is on", .cluster = CL_MIX, .object = VM_DS("rhel9-amd64", ""),
      .pol = ON, .cls = VC_ALLOWED },
    { .name = "heterogeneous warning after other warnings", .cluster = CL_MIX, .object = VM_VOL("", V_BUSYBOX),
      .pol = OFF, .cls = VC_WARNED, .nwarn = 2, .has = { MSG_UNKNOWN, MSG_HETERO } },
    { .name = "a denial carries no warnings", .cluster = CL_MIX, .object = VM_DS("rhel9-arm64", "'architecture':'amd64',"),
      .pol = OFF, .cls = VC_DENIED, .fields = { F_ARCH } },
    { .name = "VMI CREATE /validate", .cluster = CL_AMD, .is_vmi = true,
      .object = VMI(V_CD("quay.io/containerdisks/fedora:41")), .cls = VC_DENIED, .fields = { "spec.volumes" },
      .has = { "image containerDisk image quay.io/containerdisks/fedora:41 (arm64) is built for arm64" } },
    { .name = "VMI unsupported architecture", .cluster = CL_AMD, .is_vmi = true,
      .object = VMI("'architecture':'riscv64'," V_BUSYBOX), .cls = VC_DENIED, .fields = { "spec.architecture" } },
    { .name = "VMI unknown image, deny names spec.architecture", .cluster = CL_AMD, .is_vmi = true,
      .object = VMI(V_BUSYBOX), .pol = { MULTI_ARCH_AUTO, UNKNOWN_IMAGE_DENY }, .cls = VC_DENIED,
      .fields = { "spec.volumes" }, .has = { "or set spec.architecture" } },
    { .name = "out of scope: skipped", .cluster = CL_MIX, .object = VM_DS("rhel9-arm64", "'architecture':'amd64',"),
      .out_of_scope = true, .pol = OFF, .cls = VC_SKIPPED },
    { .name = "unchanged UPDATE: skipped", .cluster = CL_AMD, .object = VM_DS("rhel9-arm64", ""),
      .old_object = VM_("", ",'running':false", V_ROOT, DVT_DS("rhel9-arm64")), .cls = VC_SKIPPED },
    { .name = "changed UPDATE: decided", .cluster = CL_AMD, .object = VM_DS("rhel9-arm64", ""),
      .old_object = VM_DS("rhel9-amd64", ""), .cls = VC_DENIED, .fields = { F_VOLS } },

    /* ---- /mutate ---- */
    { .name = "mutate: T from the architecture", .cluster = CL_MIX, .mutate = true,
      .object = VM_DS("rhel9-arm64", "'architecture':'arm64',"), .cls = VC_MUTATED, .ops = { NS_ADD("arm64") } },
    { .name = "mutate: T from the preferred architecture", .cluster = CL_MIX, .mutate = true,
      .object = VM_("", ",'preference':{'name':'prefers-arm64'}", V_BUSYBOX, ""), .cls = VC_MUTATED,
      .ops = { NS_ADD("arm64"), ARCH_ADD("arm64") } },
    { .name = "mutate: T from the required architecture of a preference", .cluster = CL_MIX, .mutate = true,
      .object = VM_("", ",'preference':{'name':'rhel.9.arm64'}", V_BUSYBOX, ""), .cls = VC_MUTATED,
      .ops = { NS_ADD("arm64"), ARCH_ADD("arm64") } },
    { .name = "mutate: preferred architecture without nodes is not usable", .cluster = CL_MIX, .mutate = true,
      .object = VM_("", ",'preference':{'name':'prefers-s390x'}", V_BUSYBOX, ""), .cls = VC_ALLOWED },
    { .name = "mutate: preferred architecture the image lacks is not usable", .cluster = CL_MIX, .mutate = true,
      .object = VM_("", ",'preference':{'name':'prefers-arm64'}", V_ROOT, DVT_DS("rhel9-amd64")), .cls = VC_MUTATED,
      .ops = { NS_ADD("amd64"), ARCH_ADD("amd64") } },
    { .name = "mutate: T from the one image architecture", .cluster = CL_MIX, .mutate = true,
      .object = VM_DS("rhel9-arm64", ""), .cls = VC_MUTATED, .ops = { NS_ADD("arm64"), ARCH_ADD("arm64") } },
    { .name = "mutate: several architectures, the cluster default", .cluster = CL_MIX_DEFARM, .mutate = true,
      .object = VM_VOL("", V_CD("registry.example.com/vms/rhel:9.4")), .cls = VC_MUTATED,
      .ops = { NS_ADD("arm64"), ARCH_ADD("arm64") } },
    { .name = "mutate: several architectures, default unusable: most nodes", .cluster = CL_ZA, .mutate = true,
      .object = VM_("'archgate.io/image-architectures':'arm64,s390x'", "", V_BUSYBOX, ""), .cls = VC_MUTATED,
      .ops = { NS_ADD("s390x"), ARCH_ADD("s390x") } },
    { .name = "mutate: several architectures, tie: alphabetical", .cluster = CL_ZA_TIE, .mutate = true,
      .object = VM_("'archgate.io/image-architectures':'s390x, arm64'", "", V_BUSYBOX, ""), .cls = VC_MUTATED,
      .ops = { NS_ADD("arm64"), ARCH_ADD("arm64") } },
    { .name = "mutate: unknown image and no R: no guess", .cluster = CL_MIX, .mutate = true,
      .object = VM_VOL("", V_BUSYBOX), .cls = VC_ALLOWED },
    { .name = "mutate: nodeSelector without the arch key gets the key", .cluster = CL_MIX, .mutate = true,
      .object = VM_DS("rhel9-amd64", SEL("vms.example.org/pool", "general")), .cls = VC_MUTATED,
      .ops = { { "add", P_NS "/kubernetes.io~1arch", NULL, "amd64" }, ARCH_ADD("amd64") } },
    { .name = "mutate: empty nodeSelector gets the key", .cluster = CL_MIX, .mutate = true,
      .object = VM_DS("rhel9-amd64", "'nodeSelector':{},"), .cls = VC_MUTATED,
      .ops = { { "add", P_NS "/kubernetes.io~1arch", NULL, "amd64" }, ARCH_ADD("amd64") } },
    { .name = "mutate: the user's arch key is kept", .cluster = CL_MIX, .mutate = true,
      .object = VM_DS("rhel9-arm64", SEL("kubernetes.io/arch", "arm64")), .cls = VC_MUTATED,
      .ops = { ARCH_ADD("arm64") } },
    { .name = "mutate: arch key and architecture set: nothing to do", .cluster = CL_MIX, .mutate = true,
      .object = VM_DS("rhel9-arm64", "'architecture':'arm64'," SEL("kubernetes.io/arch", "arm64")), .cls = VC_ALLOWED },
    { .name = "mutate: a contradicting user value is not replaced", .cluster = CL_MIX, .mutate = true,
      .object = VM_DS("rhel9-arm64", "'architecture':'arm64'," SEL("kubernetes.io/arch", "amd64")), .cls = VC_ALLOWED },
    { .name = "mutate: DataSource switched to its sibling", .cluster = CL_MIX, .mutate = true,
      .object = VM_DS("rhel9", "'architecture':'amd64',"), .cls = VC_MUTATED, .nwarn = 1,
      .has = { "switched DataSource " GOLD "/rhel9 (arm64) to its amd64 sibling rhel9-amd64" },
      .ops = { NS_ADD("amd64"), { "replace", "/spec/dataVolumeTemplates/0/spec/sourceRef/name", NULL, "rhel9-amd64" } } },
    { .name = "mutate: no sibling, no switch", .cluster = CL_MIX, .mutate = true,
      .object = VM_DS("centos", "'architecture':'amd64',"), .cls = VC_MUTATED, .ops = { NS_ADD("amd64") } },
    { .name = "mutate: a labelled DataSource is never switched", .cluster = CL_MIX, .mutate = true,
      .object = VM_DS("rhel9-arm64", "'architecture':'amd64',"), .cls = VC_MUTATED, .ops = { NS_ADD("amd64") } },
    { .name = "mutate: a labelled DataSource with a pointer is never switched", .cluster = CL_MIX, .mutate = true,
      .object = VM_DS("rhel9-legacy", "'architecture':'arm64',"), .cls = VC_MUTATED, .ops = { NS_ADD("arm64") } },
    { .name = "label wins over the pointer", .cluster = CL_AMD, .object = VM_DS("rhel9-legacy", ""), .cls = VC_ALLOWED },
    { .name = "mutate: --multi-arch=off, no patch, heterogeneous warning", .cluster = CL_MIX, .mutate = true,
      .object = VM_DS("rhel9-arm64", ""), .pol = OFF, .cls = VC_WARNED, .nwarn = 1, .has = { MSG_HETERO } },
    { .name = "mutate: CrossArchitectureVirtualization gate on: no patch", .cluster = CL_MIX_XARCH, .mutate = true,
      .object = VM_DS("rhel9-arm64", ""), .cls = VC_ALLOWED },
    { .name = "mutate: --multi-arch=on beats the HCO gate off", .cluster = CL_MIX_OFF, .mutate = true,
      .object = VM_DS("rhel9-arm64", ""), .pol = ON, .cls = VC_MUTATED, .ops = { NS_ADD("arm64"), ARCH_ADD("arm64") } },
    { .name = "mutate: auto, HCO v1beta1 gate off", .cluster = CL_MIX_OFF, .mutate = true,
      .object = VM_DS("rhel9-arm64", ""), .cls = VC_WARNED, .nwarn = 1, .has = { MSG_HETERO } },
    { .name = "mutate: auto, HCO v1 gate entry without state", .mutate = true,
      .cluster = CL_MIX_V1("'featureGates':[{'name':'enableMultiArchBootImageImport'}]"),
      .object = VM_DS("rhel9-arm64", ""), .cls = VC_MUTATED, .ops = { NS_ADD("arm64"), ARCH_ADD("arm64") } },
    { .name = "mutate: auto, HCO v1 gate entry Disabled", .mutate = true,
      .cluster = CL_MIX_V1("'featureGates':[{'name':'enableMultiArchBootImageImport','state':'Disabled'}]"),
      .object = VM_DS("rhel9-arm64", ""), .cls = VC_WARNED, .nwarn = 1, .has = { MSG_HETERO } },
    { .name = "mutate: auto, HCO v1 workloadSources wins over the gate", .mutate = true,
      .cluster = CL_MIX_V1("'featureGates':[{'name':'enableMultiArchBootImageImport','state':'Enabled'}],"
                           "'workloadSources':{'enableMultiArchBootImageImport':false}"),
      .object = VM_DS("rhel9-arm64", ""), .cls = VC_WARNED, .nwarn = 1, .has = { MSG_HETERO } },
    { .name = "mutate: auto, HCO v1 workloadSources on", .mutate = true,
      .cluster = CL_MIX_V1("'workloadSources':{'enableMultiArchBootImageImport':true}"),
      .object = VM_DS("rhel9-arm64", ""), .cls = VC_MUTATED, .ops = { NS_ADD("arm64"), ARCH_ADD("arm64") } },
    { .name = "mutate: auto without HyperConverged is off", .cluster = CL_MIX_NOHCO, .mutate = true,
      .object = VM_DS("rhel9-arm64", ""), .cls = VC_WARNED, .nwarn = 1, .has = { MSG_HETERO } },
    { .name = "mutate: VMI CREATE", .cluster = CL_MIX, .mutate = true, .is_vmi = true,
      .object = VMI(V_CD("quay.io/containerdisks/fedora:41")), .cls = VC_MUTATED,
      .ops = { { "add", "/spec/nodeSelector", "kubernetes.io/arch", "arm64" }, { "add", "/spec/architecture", NULL, "arm64" } } },
    { .name = "mutate never denies", .cluster = CL_AMD, .mutate = true, .object = VM_DS("rhel9-arm64", ""),
      .cls = VC_ALLOWED },
    { .name = "mutate: --unknown-image=deny does not deny", .cluster = CL_MIX, .mutate = true,
      .object = VM_VOL("", V_BUSYBOX), .pol = { MULTI_ARCH_ON, UNKNOWN_IMAGE_DENY }, .cls = VC_ALLOWED },
    { .name = "mutate: cordoned-only image architecture is pinned, without warning", .cluster = CL_CORDON, .mutate = true,
      .object = VM_DS("rhel9-amd64", ""), .cls = VC_MUTATED, .ops = { NS_ADD("amd64"), ARCH_ADD("amd64") } },
    { .name = "mutate 15: image only on cordoned nodes is pinned there", .cluster = CL_ARM_CORD, .mutate = true,
      .object = VM_ANN(ANN_AZ, ""), .cls = VC_MUTATED, .ops = { NS_ADD("arm64"), ARCH_ADD("arm64") } },
    { .name = "mutate 15: image only on not-ready nodes is pinned there", .cluster = CL_ARM_NOTREADY, .mutate = true,
      .object = VM_ANN(ANN_AZ, ""), .cls = VC_MUTATED, .ops = { NS_ADD("arm64"), ARCH_ADD("arm64") } },
    { .name = "mutate 15: R with no node is pinned, never denied", .cluster = CL_ARM_CORD, .mutate = true,
      .object = VM_ANN(ANN_AZ, "'architecture':'s390x',"), .cls = VC_MUTATED, .ops = { NS_ADD("s390x") } },
    { .name = "mutate 15: a cordoned default architecture loses to an eligible one", .cluster = CL_CORDON, .mutate = true,
      .object = VM_ANN("'archgate.io/image-architectures':'amd64,arm64'", ""), .cls = VC_MUTATED,
      .ops = { NS_ADD("arm64"), ARCH_ADD("arm64") } },
    { .name = "mutate 15: a cordoned preferred architecture loses to an eligible one", .cluster = CL_ARM_CORD, .mutate = true,
      .object = VM_("'archgate.io/image-architectures':'amd64,arm64'", ",'preference':{'name':'prefers-arm64'}", V_BUSYBOX, ""),
      .cls = VC_MUTATED, .ops = { NS_ADD("amd64"), ARCH_ADD("amd64") } },
    { .name = "mutate 15: a cordoned preferred architecture, unknown image: no guess", .cluster = CL_ARM_CORD, .mutate = true,
      .object = VM_("", ",'preference':{'name':'prefers-arm64'}", V_BUSYBOX, ""), .cls = VC_ALLOWED },
    { .name = "mutate 15: a preferred architecture whose nodes are all cordoned is used when nothing is eligible",
      .cluster = "[" N_CTRL "," NODE("worker-a1", "arm64", L_WORKER L_KV L_A, S_CORDON) "," HCO_ON "," KV_AMD "," OBJS "]",
      .mutate = true, .object = VM_("", ",'preference':{'name':'prefers-arm64'}", V_BUSYBOX, ""), .cls = VC_MUTATED,
      .ops = { NS_ADD("arm64"), ARCH_ADD("arm64") } },
    { .name = "mutate: unchanged UPDATE skipped", .cluster = CL_MIX, .mutate = true, .object = VM_DS("rhel9-arm64", ""),
      .old_object = VM_("", ",'running':true", V_ROOT, DVT_DS("rhel9-arm64")), .cls = VC_SKIPPED },
};

/* ---- helpers ---- */

/* Single-quoted fixture text -> JSON text (mem_malloc'd). */
static char *unquote(const char *s)
{
    size_t n = strlen(s);
    char *d = mem_malloc(n + 1);
    if (!d)
        return NULL;
    for (size_t i = 0; i <= n; i++)
        d[i] = s[i] == '\'' ? '"' : s[i];
    return d;
}

static cJSON *parse_q(const char *s)
{
    char *t = unquote(s);
    cJSON *j = tu_parse(t);
    mem_free(t);
    return j;
}

static struct snapshot *build_snapshot(const char *cluster_q, const char *catalog_q)
{
    char err[512] = "";
    cJSON *cl = parse_q(cluster_q), *cat = catalog_q ? parse_q(catalog_q) : NULL;
    struct cluster_builder *b = cluster_builder_new();
    struct snapshot *s = NULL;
    enum ag_result r = (cl && b && (!catalog_q || cat)) ? AG_OK : AG_EINVAL;
    const cJSON *it;
    if (r == AG_OK) {
        cJSON_ArrayForEach(it, cl) {
            r = cluster_builder_add(b, it, err, sizeof err);
            if (r != AG_OK)
                break;
        }
    }
    if (r == AG_OK && cat)
        r = cluster_builder_add_catalog(b, cat, err, sizeof err);
    if (r == AG_OK) {
        s = cluster_builder_finish(b);
        b = NULL;
    } else {
        fprintf(stderr, "build_snapshot: %s\n", err);
    }
    cluster_builder_free(b);
    cJSON_Delete(cl);
    cJSON_Delete(cat);
    return s;
}

static int fails;

#define CHECK(tc, cond)                                                                             \
    do {                                                                                            \
        if (!(cond)) {                                                                              \
            fprintf(stderr, "\n  case \"%s\": %s (line %d)", (tc)->name, #cond, __LINE__);          \
            fails++;                                                                                \
        }                                                                                           \
        CU_ASSERT(cond);                                                                            \
    } while (0)

static bool valid_utf8(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        int n = *p < 0x80 ? 0 : (*p & 0xE0) == 0xC0 ? 1 : (*p & 0xF0) == 0xE0 ? 2 : (*p & 0xF8) == 0xF0 ? 3 : -1;
        if (n < 0)
            return false;
        p++;
        for (int i = 0; i < n; i++, p++)
            if ((*p & 0xC0) != 0x80)
                return false;
    }
    return true;
}

/* Decide one object against one snapshot. Facts live in `pool` and borrow from `obj`. */
static enum ag_result decide_obj(const struct dcase *tc, const struct snapshot *s, const cJSON *obj,
                                 const cJSON *old, struct pool *pool, struct vm_facts *facts, struct verdict *v)
{
    char err[256] = "";
    enum ag_result r = vm_extract(obj, tc->is_vmi, "vms", pool, facts, err, sizeof err);
    if (r != AG_OK) {
        fprintf(stderr, "\n  case \"%s\": vm_extract: %s", tc->name, err);
        return r;
    }
    struct decide_input in = {
        .mutate = tc->mutate,
        .op = old ? OP_UPDATE : OP_CREATE,
        .in_scope = !tc->out_of_scope,
        .is_vmi = tc->is_vmi,
        .vm = facts,
        .unchanged = old && vm_inputs_equal(old, obj, tc->is_vmi),
        .resource = tc->is_vmi ? "virtualmachineinstances" : "virtualmachines",
        .group = "kubevirt.io",
    };
    return decide_review(&in, s, &tc->pol, pool, v);
}

/* ---- a tiny JSON Patch applier (add/replace of strings and one-key objects) ---- */

static bool pointer_token(const char **p, char *out, size_t len)
{
    if (**p != '/')
        return false;
    (*p)++;
    size_t n = 0;
    while (**p && **p != '/') {
        char c = **p;
        if (c == '~') {
            (*p)++;
            if (**p == '0')
                c = '~';
            else if (**p == '1')
                c = '/';
            else
                return false;
        }
        if (n + 1 >= len)
            return false;
        out[n++] = c;
        (*p)++;
    }
    out[n] = '\0';
    return true;
}

static cJSON *child_of(cJSON *node, const char *tok)
{
    if (cJSON_IsObject(node))
        return cJSON_GetObjectItemCaseSensitive(node, tok);
    if (cJSON_IsArray(node)) {
        char *end = NULL;
        long i = strtol(tok, &end, 10);
        if (!*tok || *end || i < 0)
            return NULL;
        return cJSON_GetArrayItem(node, (int)i);
    }
    return NULL;
}

static bool apply_op(cJSON *root, const struct patch_op *op)
{
    char tok[256];
    const char *p = op->path;
    cJSON *parent = root;
    if (!pointer_token(&p, tok, sizeof tok))
        return false;
    while (*p) {
        parent = child_of(parent, tok);
        if (!parent || !pointer_token(&p, tok, sizeof tok))
            return false;
    }
    cJSON *val = op->map_key ? cJSON_CreateObject() : cJSON_CreateString(op->value);
    if (!val)
        return false;
    if (op->map_key && !cJSON_AddStringToObject(val, op->map_key, op->value)) {
        cJSON_Delete(val);
        return false;
    }
    if (!cJSON_IsObject(parent)) {
        cJSON_Delete(val);
        return false;
    }
    bool exists = cJSON_GetObjectItemCaseSensitive(parent, tok) != NULL;
    if (op->op == PATCH_REPLACE && !exists) {
        cJSON_Delete(val);
        return false;
    }
    if (exists)
        return cJSON_ReplaceItemInObjectCaseSensitive(parent, tok, val);
    return cJSON_AddItemToObject(parent, tok, val);
}

static bool apply_patch(cJSON *root, const struct patch *pt)
{
    for (size_t i = 0; i < pt->n; i++)
        if (!apply_op(root, &pt->ops[i]))
            return false;
    return true;
}

/* ---- the table runner ---- */

static void check_verdict(const struct dcase *tc, const struct verdict *v)
{
    bool denied = tc->cls == VC_DENIED;
    size_t nfields = 0;
    while (nfields < 6 && tc->fields[nfields])
        nfields++;
    CHECK(tc, v->cls == tc->cls);
    CHECK(tc, v->allowed == !denied);
    CHECK(tc, v->ncauses == nfields);
    CHECK(tc, v->details_kind && strcmp(v->details_kind, tc->is_vmi ? "virtualmachineinstances" : "virtualmachines") == 0);
    CHECK(tc, v->details_group && strcmp(v->details_group, "kubevirt.io") == 0);
    CHECK(tc, v->details_name && strcmp(v->details_name, tc->is_vmi ? "vmi1" : "vm1") == 0);
    for (size_t i = 0; i < nfields && i < v->ncauses; i++) {
        CHECK(tc, v->causes[i].field && strcmp(v->causes[i].field, tc->fields[i]) == 0);
        CHECK(tc, v->causes[i].type && strcmp(v->causes[i].type, "FieldValueInvalid") == 0);
        CHECK(tc, v->causes[i].message && *v->causes[i].message);
    }
    if (denied) {
        CHECK(tc, v->code == 422);
        CHECK(tc, v->reason && strcmp(v->reason, "Invalid") == 0);
        CHECK(tc, v->nwarnings == 0);
        CHECK(tc, v->patch.n == 0);
        /* the message is every cause, joined */
        char joined[8192] = "";
        size_t used = 0;
        for (size_t i = 0; i < v->ncauses; i++) {
            int w = snprintf(joined + used, sizeof joined - used, "%s%s", i ? "; " : "", v->causes[i].message);
            if (w > 0 && (size_t)w < sizeof joined - used)
                used += (size_t)w;
        }
        CHECK(tc, v->message && strcmp(v->message, joined) == 0);
        for (size_t i = 0; i < 5 && tc->has[i]; i++)
            CHECK(tc, v->message && strstr(v->message, tc->has[i]) != NULL);
        return;
    }
    CHECK(tc, v->code == 0 && v->message == NULL);
    CHECK(tc, v->nwarnings == (size_t)tc->nwarn);
    for (size_t i = 0; i < v->nwarnings; i++) {
        CHECK(tc, v->warnings[i] && strlen(v->warnings[i]) < WARNING_MAX_LEN);
        CHECK(tc, v->warnings[i] && valid_utf8(v->warnings[i]));
    }
    for (size_t i = 0; i < 5 && tc->has[i]; i++) {
        bool found = false;
        for (size_t k = 0; k < v->nwarnings; k++)
            found = found || strstr(v->warnings[k], tc->has[i]) != NULL;
        CHECK(tc, found);
    }
    if (tc->cut) {
        CHECK(tc, v->nwarnings == 1 && strlen(v->warnings[0]) >= 112 &&
                  strcmp(v->warnings[0] + strlen(v->warnings[0]) - 3, "...") == 0);
    }
    size_t nops = 0;
    while (nops < 4 && tc->ops[nops].op)
        nops++;
    CHECK(tc, v->patch.n == nops);
    for (size_t i = 0; i < nops && i < v->patch.n; i++) {
        const struct patch_op *o = &v->patch.ops[i];
        const struct xop *x = &tc->ops[i];
        CHECK(tc, o->op == (strcmp(x->op, "add") == 0 ? PATCH_ADD : PATCH_REPLACE));
        CHECK(tc, o->path && strcmp(o->path, x->path) == 0);
        CHECK(tc, (x->key == NULL) == (o->map_key == NULL));
        CHECK(tc, !x->key || !o->map_key || strcmp(o->map_key, x->key) == 0);
        CHECK(tc, o->value && strcmp(o->value, x->value) == 0);
    }
}

/* The patched object, reviewed again, yields no patch. */
static void check_idempotent(const struct dcase *tc, const struct snapshot *s, const cJSON *obj, const struct verdict *v)
{
    cJSON *patched = cJSON_Duplicate(obj, 1);
    CHECK(tc, patched != NULL);
    if (!patched)
        return;
    bool ok = apply_patch(patched, &v->patch);
    CHECK(tc, ok);
    struct pool *pool = pool_new(0);
    struct vm_facts facts;
    struct verdict again;
    if (ok && pool) {
        enum ag_result r = decide_obj(tc, s, patched, NULL, pool, &facts, &again);
        CHECK(tc, r == AG_OK);
        CHECK(tc, r != AG_OK || (again.allowed && again.patch.n == 0));
    }
    pool_free(pool);
    cJSON_Delete(patched);
}

static void run_case(const struct dcase *tc, int *idempotence_checked)
{
    struct snapshot *s = build_snapshot(tc->cluster, CATALOG);
    cJSON *obj = parse_q(tc->object);
    cJSON *old = tc->old_object ? parse_q(tc->old_object) : NULL;
    struct pool *pool = pool_new(0);
    CHECK(tc, s && obj && pool && (!tc->old_object || old));
    if (s && obj && pool && (!tc->old_object || old)) {
        struct vm_facts facts;
        struct verdict v;
        enum ag_result r = decide_obj(tc, s, obj, old, pool, &facts, &v);
        CHECK(tc, r == AG_OK);
        if (r == AG_OK) {
            check_verdict(tc, &v);
            if (tc->mutate && v.patch.n > 0) {
                check_idempotent(tc, s, obj, &v);
                (*idempotence_checked)++;
            }
        }
    }
    pool_free(pool);
    cJSON_Delete(obj);
    cJSON_Delete(old);
    snapshot_release(s);
}

static void test_table(void)
{
    size_t n = sizeof cases / sizeof cases[0];
    int idem = 0;
    CU_ASSERT(n >= 45);
    fails = 0;
    for (size_t i = 0; i < n; i++)
        run_case(&cases[i], &idem);
    if (fails)
        fprintf(stderr, "\n  %d table checks failed\n", fails);
    /* every mutating case went through the idempotence check */
    int mutating = 0;
    for (size_t i = 0; i < n; i++)
        if (cases[i].mutate && cases[i].ops[0].op)
            mutating++;
    CU_ASSERT(idem == mutating);
    CU_ASSERT(mutating >= 15);
}

/* ---- verdict_class_name, decide_multi_arch_enabled ---- */

static void test_class_names(void)
{
    CU_ASSERT_STRING_EQUAL(verdict_class_name(VC_ALLOWED), "allowed");
    CU_ASSERT_STRING_EQUAL(verdict_class_name(VC_WARNED), "warned");
    CU_ASSERT_STRING_EQUAL(verdict_class_name(VC_MUTATED), "mutated");
    CU_ASSERT_STRING_EQUAL(verdict_class_name(VC_DENIED), "denied");
    CU_ASSERT_STRING_EQUAL(verdict_class_name(VC_SKIPPED), "skipped");
    CU_ASSERT_PTR_NOT_NULL(verdict_class_name(VC_COUNT));
}

static void test_multi_arch_modes(void)
{
    struct snapshot *on = build_snapshot(CL_MIX, NULL), *off = build_snapshot(CL_MIX_OFF, NULL),
                    *none = build_snapshot(CL_MIX_NOHCO, NULL);
    CU_ASSERT_FATAL(on && off && none);
    struct policy pa = { MULTI_ARCH_AUTO, UNKNOWN_IMAGE_WARN }, pon = ON, poff = OFF;
    CU_ASSERT_TRUE(decide_multi_arch_enabled(on, &pa));
    CU_ASSERT_FALSE(decide_multi_arch_enabled(off, &pa));
    CU_ASSERT_FALSE(decide_multi_arch_enabled(none, &pa));
    CU_ASSERT_TRUE(decide_multi_arch_enabled(off, &pon));
    CU_ASSERT_TRUE(decide_multi_arch_enabled(none, &pon));
    CU_ASSERT_FALSE(decide_multi_arch_enabled(on, &poff));
    snapshot_release(on);
    snapshot_release(off);
    snapshot_release(none);
}

/* In scope without facts or without a snapshot is a caller bug: an internal error, not a crash. */
static void test_bad_input(void)
{
    struct snapshot *s = build_snapshot(CL_MIX, NULL);
    struct pool *pool = pool_new(0);
    CU_ASSERT_FATAL(s && pool);
    struct policy p = ON;
    struct verdict v;
    struct decide_input in = { .in_scope = true, .resource = "virtualmachines", .group = "kubevirt.io" };
    CU_ASSERT_EQUAL(decide_review(&in, s, &p, pool, &v), AG_EINTERNAL);
    CU_ASSERT_FALSE(v.allowed);
    struct vm_facts f;
    memset(&f, 0, sizeof f);
    in.vm = &f;
    CU_ASSERT_EQUAL(decide_review(&in, NULL, &p, pool, &v), AG_EINTERNAL);
    CU_ASSERT_EQUAL(decide_review(NULL, s, &p, pool, &v), AG_EINTERNAL);
    /* an out-of-scope review needs no facts */
    in.in_scope = false;
    in.vm = NULL;
    CU_ASSERT_EQUAL(decide_review(&in, s, &p, pool, &v), AG_OK);
    CU_ASSERT_TRUE(v.allowed);
    CU_ASSERT_EQUAL(v.cls, VC_SKIPPED);
    pool_free(pool);
    snapshot_release(s);
}

/* Every allocation of the decision failing in turn: AG_ENOMEM, never a crash or a half verdict. */
static void run_oom(const struct dcase *tc)
{
    struct snapshot *s = build_snapshot(tc->cluster, CATALOG);
    cJSON *obj = parse_q(tc->object);
    struct pool *fpool = pool_new(0);
    CU_ASSERT_FATAL(s && obj && fpool);
    struct vm_facts facts;
    struct verdict good;
    CU_ASSERT_EQUAL_FATAL(decide_obj(tc, s, obj, NULL, fpool, &facts, &good), AG_OK);
    struct decide_input in = {
        .mutate = tc->mutate, .op = OP_CREATE, .in_scope = true, .is_vmi = tc->is_vmi, .vm = &facts,
        .resource = "virtualmachines", .group = "kubevirt.io",
    };
    int failures = 0;
    bool done = false;
    for (long k = 0; k < 500 && !done; k++) {
        struct pool *pool = pool_new(64);   /* tiny chunks: many allocations */
        CU_ASSERT_FATAL(pool != NULL);
        struct verdict v;
        mem_fail_after(k);
        enum ag_result r = decide_review(&in, s, &tc->pol, pool, &v);
        mem_fail_after(-1);
        if (r == AG_OK) {
            done = true;
            CU_ASSERT_EQUAL(v.cls, good.cls);
            CU_ASSERT_EQUAL(v.ncauses, good.ncauses);
            CU_ASSERT_EQUAL(v.nwarnings, good.nwarnings);
            CU_ASSERT_EQUAL(v.patch.n, good.patch.n);
            if (good.message && v.message)
                CU_ASSERT_STRING_EQUAL(v.message, good.message);
        } else {
            CU_ASSERT_EQUAL(r, AG_ENOMEM);
            failures++;
        }
        pool_free(pool);
    }
    CU_ASSERT_TRUE(done);
    CU_ASSERT(failures > 0);
    pool_free(fpool);
    cJSON_Delete(obj);
    snapshot_release(s);
}

static void test_alloc_failures(void)
{
    static const struct dcase deny = {
        .name = "oom deny", .cluster = CL_MIX,
        .object = VM_DS("rhel9-arm64", "'architecture':'s390x'," SEL("kubernetes.io/arch", "amd64")),
    };
    static const struct dcase mut = {
        .name = "oom mutate", .cluster = CL_MIX, .mutate = true, .object = VM_DS("rhel9", "'architecture':'amd64',"),
    };
    static const struct dcase warn = {
        .name = "oom warn", .cluster = CL_CORDON, .pol = OFF, .object = VM_DS("rhel9-amd64", ""),
    };
    run_oom(&deny);
    run_oom(&mut);
    run_oom(&warn);
}

/* ---- the worked examples ---- */

#define EXAMPLES "tests/fixtures/examples/"

struct example {
    const char *dir;
    bool mutate;
    struct policy pol;
};

static const struct example examples[] = {
    { "01-deny-arm64-image-outside-vm-pool", false, { MULTI_ARCH_AUTO, UNKNOWN_IMAGE_WARN } },
    { "02-allow-pinned-arm64-vm", false, { MULTI_ARCH_AUTO, UNKNOWN_IMAGE_WARN } },
    { "03-mutate-pins-registry-image-to-arm64", true, { MULTI_ARCH_ON, UNKNOWN_IMAGE_WARN } },
    { "04-multiarch-off-same-vm-warns", true, { MULTI_ARCH_OFF, UNKNOWN_IMAGE_WARN } },
    { "05-switch-rhel9-to-amd64-sibling", true, { MULTI_ARCH_AUTO, UNKNOWN_IMAGE_WARN } },
    { "06-unknown-pvc-image-warns", false, { MULTI_ARCH_AUTO, UNKNOWN_IMAGE_WARN } },
    { "07-cordoned-amd64-node-warns", false, { MULTI_ARCH_ON, UNKNOWN_IMAGE_WARN } },
    { "08-stop-unschedulable-vm-allowed", false, { MULTI_ARCH_AUTO, UNKNOWN_IMAGE_WARN } },
};

static const char *jstr(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static bool str_eq(const char *a, const char *b)
{
    return a && b && strcmp(a, b) == 0;
}

static void run_example(const struct example *ex)
{
    char path[512];
    snprintf(path, sizeof path, EXAMPLES "%s/cluster", ex->dir);
    struct snapshot *s = tu_snapshot_dir(path);
    snprintf(path, sizeof path, EXAMPLES "%s/review.json", ex->dir);
    cJSON *review = tu_load_json(path);
    snprintf(path, sizeof path, EXAMPLES "%s/response.json", ex->dir);
    cJSON *response = tu_load_json(path);
    struct pool *pool = pool_new(0);
    struct dcase tc = { .name = ex->dir };
    CHECK(&tc, s && review && response && pool);
    if (!s || !review || !response || !pool)
        goto out;

    const cJSON *req = cJSON_GetObjectItemCaseSensitive(review, "request");
    const cJSON *obj = cJSON_GetObjectItemCaseSensitive(req, "object");
    const cJSON *old = cJSON_GetObjectItemCaseSensitive(req, "oldObject");
    const char *kind = jstr(cJSON_GetObjectItemCaseSensitive(req, "kind"), "kind");
    const char *op = jstr(req, "operation");
    bool is_vmi = str_eq(kind, "VirtualMachineInstance");
    bool update = str_eq(op, "UPDATE");
    struct vm_facts facts;
    char err[256] = "";
    CHECK(&tc, vm_extract(obj, is_vmi, jstr(req, "namespace"), pool, &facts, err, sizeof err) == AG_OK);
    struct decide_input in = {
        .mutate = ex->mutate,
        .op = update ? OP_UPDATE : OP_CREATE,
        .in_scope = true,
        .is_vmi = is_vmi,
        .vm = &facts,
        .unchanged = update && cJSON_IsObject(old) && vm_inputs_equal(old, obj, is_vmi),
        .resource = jstr(cJSON_GetObjectItemCaseSensitive(req, "resource"), "resource"),
        .group = jstr(cJSON_GetObjectItemCaseSensitive(req, "kind"), "group"),
    };
    struct verdict v;
    CHECK(&tc, decide_review(&in, s, &ex->pol, pool, &v) == AG_OK);

    const cJSON *resp = cJSON_GetObjectItemCaseSensitive(response, "response");
    bool allowed = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(resp, "allowed"));
    CHECK(&tc, v.allowed == allowed);
    const cJSON *status = cJSON_GetObjectItemCaseSensitive(resp, "status");
    if (status) {
        const cJSON *code = cJSON_GetObjectItemCaseSensitive(status, "code");
        CHECK(&tc, cJSON_IsNumber(code) && v.code == code->valueint);
        CHECK(&tc, str_eq(v.reason, jstr(status, "reason")));
        CHECK(&tc, str_eq(v.message, jstr(status, "message")));
        const cJSON *details = cJSON_GetObjectItemCaseSensitive(status, "details");
        CHECK(&tc, str_eq(v.details_name, jstr(details, "name")));
        CHECK(&tc, str_eq(v.details_group, jstr(details, "group")));
        CHECK(&tc, str_eq(v.details_kind, jstr(details, "kind")));
        const cJSON *causes = cJSON_GetObjectItemCaseSensitive(details, "causes");
        CHECK(&tc, (size_t)cJSON_GetArraySize(causes) == v.ncauses);
        size_t i = 0;
        const cJSON *c;
        cJSON_ArrayForEach(c, causes) {
            if (i >= v.ncauses)
                break;
            CHECK(&tc, str_eq(v.causes[i].type, jstr(c, "type")));
            CHECK(&tc, str_eq(v.causes[i].field, jstr(c, "field")));
            CHECK(&tc, str_eq(v.causes[i].message, jstr(c, "message")));
            i++;
        }
    }
    const cJSON *warnings = cJSON_GetObjectItemCaseSensitive(resp, "warnings");
    if (strncmp(ex->dir, "07-", 3) == 0) {
        CHECK(&tc, v.nwarnings == 1);
        CHECK(&tc, v.nwarnings < 1 || (strstr(v.warnings[0], "rhel9-amd64") && strstr(v.warnings[0], "cordoned")));
    } else {
        CHECK(&tc, (size_t)cJSON_GetArraySize(warnings) == v.nwarnings);
        size_t i = 0;
        const cJSON *w;
        cJSON_ArrayForEach(w, warnings) {
            if (i >= v.nwarnings)
                break;
            CHECK(&tc, cJSON_IsString(w) && str_eq(v.warnings[i], w->valuestring));
            i++;
        }
    }
    const cJSON *want_patch = cJSON_GetObjectItemCaseSensitive(response, "patch_decoded");
    if (want_patch) {
        char *want = cJSON_PrintUnformatted(want_patch);
        const char *got = patch_to_json(&v.patch, pool);
        CHECK(&tc, want && got && tu_json_equal(want, got));
        cJSON_free(want);
    } else {
        CHECK(&tc, v.patch.n == 0);
    }
out:
    pool_free(pool);
    cJSON_Delete(review);
    cJSON_Delete(response);
    snapshot_release(s);
}

static void test_examples(void)
{
    fails = 0;
    for (size_t i = 0; i < sizeof examples / sizeof examples[0]; i++)
        run_example(&examples[i]);
    if (fails)
        fprintf(stderr, "\n  %d example checks failed\n", fails);
}

/* Example 05: /validate denies the VM as written, and admits what /mutate returns. */
static void test_mutation_repairs(void)
{
    static const struct dcase val = { .name = "05 validate", .cluster = CL_MIX, .object = VM_DS("rhel9", "'architecture':'amd64',") };
    static const struct dcase mut = { .name = "05 mutate", .cluster = CL_MIX, .mutate = true, .object = VM_DS("rhel9", "'architecture':'amd64',") };
    struct snapshot *s = build_snapshot(CL_MIX, CATALOG);
    cJSON *obj = parse_q(mut.object);
    struct pool *pool = pool_new(0);
    CU_ASSERT_FATAL(s && obj && pool);
    struct vm_facts f;
    struct verdict v;
    CU_ASSERT_EQUAL_FATAL(decide_obj(&val, s, obj, NULL, pool, &f, &v), AG_OK);
    CU_ASSERT_FALSE(v.allowed);
    CU_ASSERT_EQUAL_FATAL(decide_obj(&mut, s, obj, NULL, pool, &f, &v), AG_OK);
    CU_ASSERT_TRUE(v.allowed);
    CU_ASSERT_TRUE_FATAL(apply_patch(obj, &v.patch));
    CU_ASSERT_EQUAL_FATAL(decide_obj(&val, s, obj, NULL, pool, &f, &v), AG_OK);
    CU_ASSERT_TRUE(v.allowed);
    CU_ASSERT_EQUAL(v.cls, VC_ALLOWED);
    pool_free(pool);
    cJSON_Delete(obj);
    snapshot_release(s);
}

UNIT_SUITE("decide", NULL, NULL,
           { "table of cases (validate, mutate, idempotence)", test_table },
           { "verdict class names", test_class_names },
           { "multi-arch modes", test_multi_arch_modes },
           { "caller errors are internal errors", test_bad_input },
           { "allocation failures", test_alloc_failures },
           { "worked examples", test_examples },
           { "mutation repairs what validation denies", test_mutation_repairs })
