#!/usr/bin/env bash
# Runs on the GPU machine of the `device` tool (carry .gpu and .gl; see scripts/gpu/pack.sh):
# unpacks node and the runtime, installs the Vulkan loader, makes a DO-Conv ResNet-50 with the
# machine's own torch, runs the GPU tests (test/gpu.test.ts) and the GPU throughput benchmark.
# Logs go to $OUT when it is set.
set -uo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-/tmp/gpu-out}; mkdir -p "$OUT"
for f in .gl/*.deb; do dpkg -x "$f" /; done; ldconfig
export VK_DRIVER_FILES=${VK_DRIVER_FILES:-/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json}
mkdir -p /opt/doconv-node && xz -dc .gpu/node.xz > /opt/doconv-node/node && chmod +x /opt/doconv-node/node
export PATH=/opt/doconv-node:$PATH
tar -xJf .gpu/runtime.tar.xz
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || echo "no nvidia-smi"
node --version
mkdir -p test/.cache/gpu
python3 scripts/reference/make_cases.py test/.cache/gpu --only resnet50_zip > "$OUT/make_cases.log" 2>&1 || tail -5 "$OUT/make_cases.log"
export DOCONV_ZOO_GPU_RESNET50=$PWD/test/.cache/gpu/resnet50_zip.pth DOCONV_ZOO_CACHE=/tmp/doconv-zoo-cache
node node_modules/vitest/vitest.mjs run test/gpu.test.ts 2>&1 | tee "$OUT/gpu-tests.log" | grep -v '^\s*$' | tail -40
node scripts/bench/gpu-throughput.mjs "$DOCONV_ZOO_GPU_RESNET50" 2>&1 | tee "$OUT/gpu-bench.log" | tail -20
