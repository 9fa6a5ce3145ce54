#!/bin/sh
# gen-certs.sh - development certificates for archgate: a throw-away CA and a serving
# certificate it signs, for 127.0.0.1, localhost and the in-cluster Service names.
#
#   certs/gen-certs.sh OUTDIR [--rsa] [--days N] [--cn NAME] [--reuse-ca]
#
# Writes OUTDIR/ca.crt, ca.key, tls.crt, tls.key (keys mode 600), replacing what is there.
# --reuse-ca keeps an existing OUTDIR/ca.crt + ca.key and only issues a new serving pair
# (certificate rotation under the same CA).
# ECDSA P-256 by default (cheaper handshakes under GnuTLS), RSA-2048 with --rsa. Never commit
# the output: it is for development and tests only.
set -eu

usage() {
    echo "usage: $0 OUTDIR [--rsa] [--days N] [--cn NAME] [--reuse-ca]" >&2
    exit 2
}

[ $# -ge 1 ] || usage
out=$1
shift
rsa=0
reuse_ca=0
days=365
cn=archgate.archgate-system.svc
while [ $# -gt 0 ]; do
    case "$1" in
    --rsa) rsa=1 ;;
    --reuse-ca) reuse_ca=1 ;;
    --days)
        [ $# -ge 2 ] || usage
        days=$2
        shift ;;
    --cn)
        [ $# -ge 2 ] || usage
        cn=$2
        shift ;;
    *) usage ;;
    esac
    shift
done
case "$days" in
'' | *[!0-9]*) echo "$0: --days wants a positive number, got '$days'" >&2; exit 2 ;;
esac
[ "$days" -gt 0 ] || { echo "$0: --days wants a positive number" >&2; exit 2; }
command -v openssl >/dev/null 2>&1 || { echo "$0: openssl not found" >&2; exit 1; }

mkdir -p "$out"
work=$(mktemp -d "${out%/}/.gen.XXXXXX")
trap 'rm -rf "$work"' EXIT INT TERM
umask 077

newkey() {
    if [ "$rsa" -eq 1 ]; then
        openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$1" 2>/dev/null
    else
        openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null
    fi
}

# The CA.
if [ "$reuse_ca" -eq 1 ] && [ -s "$out/ca.crt" ] && [ -s "$out/ca.key" ]; then
    cp "$out/ca.crt" "$out/ca.key" "$work/"
else
    newkey "$work/ca.key"
    openssl req -x509 -new -key "$work/ca.key" -sha256 -days "$days" \
        -subj "/CN=archgate development CA" \
        -addext "basicConstraints=critical,CA:TRUE" \
        -addext "keyUsage=critical,keyCertSign,cRLSign" \
        -out "$work/ca.crt" 2>/dev/null
fi

# The serving certificate.
newkey "$work/tls.key"
openssl req -new -key "$work/tls.key" -subj "/CN=$cn" -out "$work/tls.csr" 2>/dev/null
cat > "$work/ext.cnf" <<EOF
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:archgate.archgate-system.svc,DNS:archgate.archgate-system.svc.cluster.local
EOF
openssl x509 -req -in "$work/tls.csr" -CA "$work/ca.crt" -CAkey "$work/ca.key" \
    -CAcreateserial -sha256 -days "$days" -extfile "$work/ext.cnf" \
    -out "$work/tls.crt" 2>/dev/null

chmod 600 "$work/ca.key" "$work/tls.key"
chmod 644 "$work/ca.crt" "$work/tls.crt"
# Move the finished files into place (each rename is atomic).
for f in ca.key ca.crt tls.key tls.crt; do
    mv -f "$work/$f" "$out/$f"
done
echo "$0: wrote $out/ca.crt, $out/tls.crt and their keys (valid $days days)"
