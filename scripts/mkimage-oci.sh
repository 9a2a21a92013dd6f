#!/usr/bin/env bash
# Writes an OCI image archive for `ctr images import`: an OCI image layout
# (oci-layout, index.json, blobs/sha256/...) in a tar, holding one image with
# one uncompressed layer, the rootfs tarball given, for this machine's
# architecture. No registry and no image tool is needed.
#
#   scripts/mkimage-oci.sh ROOTFS_TAR IMAGE_NAME OUT_TAR [CMD_JSON]
#
# CMD_JSON is the image's default command as a JSON array (default
# ["/bin/sh"]); a pod sandbox image needs one that keeps running.
#
# IMAGE_NAME (e.g. ccontainer.local/busybox:latest) is what containerd names the
# image: the layout's index carries it in the io.containerd.image.name
# annotation, and its tag in org.opencontainers.image.ref.name.
set -euo pipefail
layer=${1:?usage: mkimage-oci.sh ROOTFS_TAR IMAGE_NAME OUT_TAR [CMD_JSON]}
name=${2:?usage: mkimage-oci.sh ROOTFS_TAR IMAGE_NAME OUT_TAR [CMD_JSON]}
out=${3:?usage: mkimage-oci.sh ROOTFS_TAR IMAGE_NAME OUT_TAR [CMD_JSON]}
cmd=${4:-'["/bin/sh"]'}
case $(uname -m) in
x86_64) arch=amd64 ;;
aarch64) arch=arm64 ;;
*) arch=$(uname -m) ;;
esac

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/blobs/sha256"

# store FILE: moves FILE into blobs/sha256 under its digest; prints the
# digest and the size. An uncompressed layer's digest is also its diff ID.
store() {
	local digest size
	digest=$(sha256sum "$1" | cut -d' ' -f1)
	size=$(stat -c %s "$1")
	mv "$1" "$work/blobs/sha256/$digest"
	echo "$digest $size"
}

cp "$layer" "$work/layer"
read -r layer_digest layer_size < <(store "$work/layer")

printf '{"architecture":"%s","os":"linux","config":{"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],"Cmd":%s},"rootfs":{"type":"layers","diff_ids":["sha256:%s"]},"history":[{"created_by":"scripts/mkimage-oci.sh"}]}' \
	"$arch" "$cmd" "$layer_digest" >"$work/config"
read -r config_digest config_size < <(store "$work/config")

printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%d},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"sha256:%s","size":%d}]}' \
	"$config_digest" "$config_size" "$layer_digest" "$layer_size" >"$work/manifest"
read -r manifest_digest manifest_size < <(store "$work/manifest")

printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%d,"platform":{"architecture":"%s","os":"linux"},"annotations":{"io.containerd.image.name":"%s","org.opencontainers.image.ref.name":"%s"}}]}' \
	"$manifest_digest" "$manifest_size" "$arch" "$name" "${name##*:}" >"$work/index.json"
printf '{"imageLayoutVersion":"1.0.0"}' >"$work/oci-layout"

tar -C "$work" -cf "$out.tmp" oci-layout index.json blobs
mv -f "$out.tmp" "$out"
