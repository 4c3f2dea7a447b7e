#!/usr/bin/env bash
# Packs what the GPU machine of the `device` tool needs to run doconv-zoo's GPU tests and benchmark:
# that machine has no Node.js and no registry access, and a call carries at most 64 MiB.
#   .gpu/node.xz            this machine's node binary (x86-64)
#   .gpu/runtime.tar.xz     dist/ and the node_modules the GPU tests need (onnxruntime-node's
#                           linux-x64 binaries only; no TensorFlow.js, browsers or compilers)
#   .gl/*.deb               the Vulkan loader for onnxruntime's WebGPU provider (Dawn)
# Both folders are ignored by git (.git/info/exclude). Run from the repository root after
# `npm ci && npm run build`; then scripts/gpu/run-on-device.sh is the command to run there.
set -euo pipefail
cd "$(dirname "$0")/../.."
grep -qx '/.gpu/' .git/info/exclude || echo '/.gpu/' >> .git/info/exclude
grep -qx '/.gl/' .git/info/exclude || echo '/.gl/' >> .git/info/exclude
mkdir -p .gpu .gl
[ -s .gpu/node.xz ] || xz -T0 -6 -c "$(command -v node)" > .gpu/node.xz
# What the GPU tests import at run time (vitest and its dependencies; onnxruntime; the registry's
# downloader and unpacker; the digits), without other platforms' onnxruntime binaries.
keep=(onnxruntime-node onnxruntime-common zod got tar mnist vitest @vitest vite vite-node)
deps=$(node -e '
const fs=require("fs"),path=require("path");const seen=new Set();
function walk(n){if(seen.has(n))return;seen.add(n);let p;try{p=JSON.parse(fs.readFileSync(path.join("node_modules",n,"package.json")))}catch{return}
for(const d of Object.keys({...p.dependencies,...p.optionalDependencies,...p.peerDependencies}))walk(d)}
for(const n of process.argv.slice(1))walk(n);
console.log([...seen].filter(n=>fs.existsSync(path.join("node_modules",n))).join("\n"))' "${keep[@]}")
tar -cf - --exclude='node_modules/onnxruntime-node/bin/napi-v*/darwin' --exclude='node_modules/onnxruntime-node/bin/napi-v*/win32' \
  --exclude='node_modules/onnxruntime-node/bin/napi-v*/linux/arm64'  \
  dist package.json $(printf 'node_modules/%s ' $deps) | xz -T0 -6 > .gpu/runtime.tar.xz
if ! ls .gl/libvulkan1_*.deb >/dev/null 2>&1; then
  o='-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=/tmp/amd64'
  mkdir -p /tmp/amd64/partial
  apt-get $o update >/dev/null
  (cd .gl && apt-get $o download libvulkan1 >/dev/null)
fi
du -ch .gpu/* .gl/* | tail -n +1
