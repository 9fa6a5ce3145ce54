#!/bin/sh
# registry-demo.sh - the containerDisk walkthrough of docs/registry.md: start Debian's
# docker-registry on 127.0.0.1 with TLS from throw-away certificates, push two containerDisk
# "images" through the registry HTTP API (an OCI index for amd64+arm64, and one for amd64 only),
# and leave it running. Prints the registry address and the commands to try.
#
#   scripts/registry-demo.sh DIR [PORT]     (default port 5443; stop it with: kill $(cat DIR/registry.pid))
set -eu
dir=${1:?usage: $0 DIR [PORT]}
port=${2:-5443}
command -v docker-registry >/dev/null || { echo "docker-registry is missing: run scripts/deps.sh" >&2; exit 1; }
mkdir -p "$dir/storage"
dir=$(cd "$dir" && pwd)
sh "$(dirname "$0")/../certs/gen-certs.sh" "$dir/certs" >/dev/null
cat > "$dir/registry.yml" <<EOT
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $dir/storage
http:
  addr: 127.0.0.1:$port
  tls:
    certificate: $dir/certs/tls.crt
    key: $dir/certs/tls.key
EOT
docker-registry serve "$dir/registry.yml" > "$dir/registry.log" 2>&1 &
echo $! > "$dir/registry.pid"
reg="https://127.0.0.1:$port"
c() { curl -sS --cacert "$dir/certs/ca.crt" "$@"; }
i=0
until c -o /dev/null "$reg/v2/" 2>/dev/null; do
    i=$((i + 1)); [ $i -lt 100 ] || { echo "registry did not start; see $dir/registry.log" >&2; exit 1; }
    sleep 0.05
done
sha() { printf '%s' "$1" | sha256sum | cut -d' ' -f1; }
blob() { # blob REPO CONTENT -> digest
    loc=$(c -si -X POST "$reg/v2/$1/blobs/uploads/" | tr -d '\r' | sed -n 's/^[Ll]ocation: //p')
    d="sha256:$(sha "$2")"
    case $loc in *\?*) sep='&' ;; *) sep='?' ;; esac
    printf '%s' "$2" | c -f -o /dev/null -X PUT -H 'Content-Type: application/octet-stream' \
        --data-binary @- "$loc${sep}digest=$d"
    echo "$d"
}
manifest() { # manifest REPO REF MEDIATYPE BODY -> digest
    printf '%s' "$4" | c -f -o /dev/null -X PUT -H "Content-Type: $3" --data-binary @- "$reg/v2/$1/manifests/$2"
    echo "sha256:$(sha "$4")"
}
image() { # image REPO ARCH -> "digest size" of its OCI manifest
    layer="a few bytes of $1 for $2"
    cfg="{\"architecture\":\"$2\",\"os\":\"linux\",\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[]}}"
    ld=$(blob "$1" "$layer"); cd_=$(blob "$1" "$cfg")
    m="{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\",\"digest\":\"$cd_\",\"size\":${#cfg}},\"layers\":[{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar+gzip\",\"digest\":\"$ld\",\"size\":${#layer}}]}"
    d=$(manifest "$1" "$(printf 'sha256:%s' "$(sha "$m")")" application/vnd.oci.image.manifest.v1+json "$m")
    echo "$d ${#m}"
}
index() { # index REPO TAG ARCH...
    repo=$1 tag=$2; shift 2
    entries=""
    for a in "$@"; do
        set -- $(image "$repo" "$a")
        entries="$entries${entries:+,}{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"$1\",\"size\":$2,\"platform\":{\"architecture\":\"$a\",\"os\":\"linux\"}}"
    done
    manifest "$repo" "$tag" application/vnd.oci.image.index.v1+json \
        "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.index.v1+json\",\"manifests\":[$entries]}" >/dev/null
}
index containerdisks/fedora 41 amd64 arm64
index containerdisks/legacy 1 amd64
review() { # review FILE NAME IMAGE ARCH(or "") -> an AdmissionReview CREATE of a containerDisk VM
    arch=""
    [ -z "$4" ] || arch="\"architecture\":\"$4\","
    cat > "$dir/$1" <<EOT
{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"0d6f3f4e-8f55-4c1e-9a59-4b1d2f6a7c01",
 "kind":{"group":"kubevirt.io","version":"v1","kind":"VirtualMachine"},
 "resource":{"group":"kubevirt.io","version":"v1","resource":"virtualmachines"},
 "name":"$2","namespace":"vms","operation":"CREATE","userInfo":{"username":"demo"},
 "object":{"apiVersion":"kubevirt.io/v1","kind":"VirtualMachine","metadata":{"name":"$2","namespace":"vms"},
  "spec":{"runStrategy":"Always","template":{"spec":{$arch"domain":{"devices":{}},
   "volumes":[{"name":"root","containerDisk":{"image":"$3"}}]}}}}}}
EOT
}
review review-legacy-on-arm64.json legacy-on-arm 127.0.0.1:$port/containerdisks/legacy:1 arm64
review review-fedora.json fedora-any 127.0.0.1:$port/containerdisks/fedora:41 ""
echo "registry 127.0.0.1:$port (CA $dir/certs/ca.crt, pid $(cat "$dir/registry.pid"))"
echo "  127.0.0.1:$port/containerdisks/fedora:41   OCI index: amd64, arm64"
echo "  127.0.0.1:$port/containerdisks/legacy:1    OCI index: amd64"
echo "reviews: $dir/review-legacy-on-arm64.json (pinned to arm64), $dir/review-fedora.json (no architecture)"
