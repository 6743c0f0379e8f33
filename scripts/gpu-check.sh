#!/usr/bin/env bash
# The one command a lent GPU machine runs (CUDA, PyTorch and cmake there, no Node.js, no
# network), from the repository root, with the bundle of scripts/gpu-bundle.mjs carried in
# gpu-bundle/ (node, dist/, build/Release/*.node, node_modules, Vulkan libraries):
#
#   OUT=/some/folder bash scripts/gpu-check.sh
#
# It unpacks the bundle, describes the machine, then runs each part below under a time limit
# of its own, in order of value, never stopping at a failure, keeping every log:
#   cuda-parity    the kernel parity suite on cuda (and the cuda backend specs)  mocha --grep cuda
#   cuda-train     the training tests on cuda (trainer, clipping, ...)           mocha --grep cuda
#   nccl           the one-rank NCCL smoke test (needs the MPI addon to load)
#   bench-cuda     node dist/bench/bench.js --quick --backend cuda (W1, W2, W3 beside PyTorch cuda)
#   torch-gemm     PyTorch (cuBLAS) matmul TFLOP/s, TF32 allowed, at the bench's GEMM shapes
#   webgpu-parity  the parity suite and webgpu specs on webgpu (Dawn on the NVIDIA Vulkan driver)
#   bench-webgpu   node dist/bench/bench.js --quick --backend webgpu --workload W1 (beside tfjs-webgpu)
# and writes $OUT/summary.txt (per part: exit status, seconds, passed/failed/skipped, the first
# failures or skip reasons, the bench figures), rewritten after every part so that a run cut
# short still leaves it. $OUT gets at most 8 files (what the device returns): summary.txt,
# logs.tgz (every log, the bench JSON) and the part logs but torch-gemm's.
#
# Environment: OUT (default /tmp/gpu-check-out); GPU_CHECK_BUDGET, seconds for everything
# (default 540: a device call may last 600 s); GPU_CHECK_PARTS, the parts to run, space-separated
# (default all, in the order above); GPU_BUNDLE (default gpu-bundle); GPU_CHECK_SCALE, a factor
# on every part's limit (default 1; larger for a trial run on a slow machine, e.g. lavapipe).
set -u
cd "$(dirname "$0")/.." || exit 2
ROOT=$PWD
START=$(date +%s)
OUT=${OUT:-/tmp/gpu-check-out}
BUDGET=${GPU_CHECK_BUDGET:-540}
BUNDLE=${GPU_BUNDLE:-gpu-bundle}
ALL_PARTS="cuda-parity cuda-train nccl bench-cuda torch-gemm webgpu-parity bench-webgpu"
PARTS=${GPU_CHECK_PARTS:-$ALL_PARTS}
W=$(mktemp -d /tmp/gpu-check.XXXXXX)   # logs and JSON while running; packed into $OUT/logs.tgz
mkdir -p "$OUT"
SUMMARY=$OUT/summary.txt
: >"$W/results"

elapsed() { echo $(($(date +%s) - START)); }
say() { echo "[gpu-check $(elapsed)s] $*" | tee -a "$W/setup.log"; }

# ---- summary ----------------------------------------------------------------------------------
write_summary() {
  {
    echo "hydranet gpu-check: $(date -u +%FT%TZ), $(elapsed) s of a ${BUDGET} s budget"
    [ -f "$BUNDLE/MANIFEST.json" ] && echo "bundle: $(tr -d '\n' <"$BUNDLE/MANIFEST.json" | grep -o '"commit": *"[^"]*"' | head -1)"
    [ -f "$W/gpu.txt" ] && sed 's/^/gpu: /' "$W/gpu.txt"
    [ -f "$W/probe.txt" ] && grep -av '^Warning:' "$W/probe.txt" | sed 's/^/probe: /'
    echo
    cat "$W/results"
    for f in "$W"/figures-*.txt; do [ -f "$f" ] && { echo; cat "$f"; }; done
  } >"$SUMMARY"
  # Everything, in one file (the device returns at most 8 files).
  tar -C "$W" -czf "$OUT/logs.tgz.tmp" . 2>/dev/null && mv "$OUT/logs.tgz.tmp" "$OUT/logs.tgz"
}
trap 'write_summary; rm -rf "$W"' EXIT

# ---- unpacking --------------------------------------------------------------------------------
unxz_to() { # FILE.xz DEST
  if command -v xz >/dev/null; then xz -dc "$1" >"$2"; else python3 -c 'import lzma,shutil,sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2], "wb"))' "$1" "$2"; fi
}
untar_xz() { # FILE.tar.xz DIR
  if command -v xz >/dev/null; then tar -C "$2" -xJf "$1"; else python3 -c 'import tarfile,sys; tarfile.open(sys.argv[1], "r:xz").extractall(sys.argv[2])' "$1" "$2"; fi
}

NODE_DIR=/tmp/hydranet-node
if [ ! -f "$BUNDLE/node.xz" ]; then
  echo "setup: FAILED: $BUNDLE/node.xz is missing (make the bundle with node scripts/gpu-bundle.mjs and carry $BUNDLE)" >>"$W/results"
  exit 1
fi
mkdir -p "$NODE_DIR"
say "unpacking node, dist/, build/Release, node_modules from $BUNDLE"
if ! unxz_to "$BUNDLE/node.xz" "$NODE_DIR/node" 2>>"$W/setup.log" || ! chmod +x "$NODE_DIR/node" || ! untar_xz "$BUNDLE/app.tar.xz" "$ROOT" 2>>"$W/setup.log" || ! untar_xz "$BUNDLE/modules.tar.xz" "$ROOT" 2>>"$W/setup.log"; then
  echo "setup: FAILED unpacking the bundle (see setup.log)" >>"$W/results"
  exit 1
fi
export PATH="$NODE_DIR:$PATH"
say "node $(node -v) at $(command -v node)"

# Libraries: the driver's folder, NCCL from PyTorch's wheels, and the bundled Vulkan/glvnd/X11
# libraries only where the machine has none (a system copy always wins).
LIBS=/tmp/hydranet-libs
mkdir -p "$LIBS"
extra=""
for d in /usr/local/nvidia/lib64 /usr/local/nvidia/lib; do [ -d "$d" ] && extra="$extra:$d"; done
for f in "$BUNDLE"/lib/*; do
  [ -f "$f" ] || continue
  so=$(basename "$f")
  if ldconfig -p 2>/dev/null | grep -q "^[[:space:]]*$so "; then
    say "library $so: the system's"
  else
    ln -sf "$ROOT/$f" "$LIBS/$so"
    say "library $so: bundled"
  fi
done
if ! ldconfig -p 2>/dev/null | grep -q 'libnccl\.so\.2 '; then
  nccl=$(python3 -c 'import nvidia.nccl, os; print(os.path.join(list(nvidia.nccl.__path__)[0], "lib"))' 2>/dev/null)
  if [ -n "$nccl" ] && [ -f "$nccl/libnccl.so.2" ]; then extra="$extra:$nccl"; say "libnccl.so.2 from $nccl"; else say "libnccl.so.2: none found"; fi
fi
export LD_LIBRARY_PATH="$LIBS$extra${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
say "LD_LIBRARY_PATH=$LD_LIBRARY_PATH"
# The NVIDIA Vulkan driver's manifest, where the loader would not find one on its own.
if ! ls /usr/share/vulkan/icd.d/nvidia*.json /etc/vulkan/icd.d/nvidia*.json >/dev/null 2>&1; then
  for j in /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json /usr/local/nvidia/icd.d/nvidia_icd.json /usr/share/vulkan/icd.d/nvidia_icd.x86_64.json; do
    if [ -f "$j" ]; then export VK_DRIVER_FILES="$j" VK_ICD_FILENAMES="$j"; say "Vulkan driver manifest $j"; break; fi
  done
fi
export XDG_RUNTIME_DIR=/tmp/xdg-gpu-check HYDRANET_REPORT=0 PYTHONUNBUFFERED=1
mkdir -p "$XDG_RUNTIME_DIR"
export HYDRANET_BENCH_PYTHON=${HYDRANET_BENCH_PYTHON:-$(command -v python3 || echo /usr/bin/python3)}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
say "bench python: $HYDRANET_BENCH_PYTHON"

# ---- the machine ------------------------------------------------------------------------------
{
  nvidia-smi 2>&1 || echo "nvidia-smi: not available"
  echo
  nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv 2>&1
  echo
  echo "ldconfig: $(ldconfig -p 2>/dev/null | grep -Eo 'lib(vulkan|nccl|mpi|cuda|GLX_nvidia)\.so[.0-9]*' | sort -u | tr '\n' ' ')"
  echo "mpi: $(command -v mpirun orted 2>/dev/null | tr '\n' ' ')(the NCCL test's MPI addon needs libmpi.so.40 and, as a singleton, orted)"
  uname -a; nproc; python3 -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda, torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU")' 2>&1
} >"$W/machine.log" 2>&1
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader >"$W/gpu.txt" 2>/dev/null || echo "no nvidia-smi" >"$W/gpu.txt"
# What hydranet itself sees: the cuda addon's device, the webgpu adapter.
timeout -k 5 60 node --input-type=module -e '
  import { loadCudaAddon } from "./dist/ts/backends/cuda.js";
  import { createBackend } from "./dist/ts/backends/create.js";
  try { const i = loadCudaAddon().info(); console.log(`cuda addon: ${JSON.stringify(i)}`); } catch (e) { console.log(`cuda addon: does not load: ${e.message.split("\n")[0]}`); }
  try { const b = await createBackend("webgpu"); console.log(`webgpu adapter: ${JSON.stringify(b.adapter ?? b.describe?.() ?? b.name)}`); b.dispose(); } catch (e) { console.log(`webgpu: ${e.message.split("\n")[0]}`); }
  process.exit(0);
' >"$W/probe.txt" 2>&1 || echo "probe: failed or timed out" >>"$W/probe.txt"
cat "$W/probe.txt" | tee -a "$W/setup.log"
write_summary

# ---- the parts --------------------------------------------------------------------------------
MOCHA=(node node_modules/mocha/bin/mocha.js --no-config --timeout 600000 --reporter test/reporter.cjs)

# part NAME LIMIT_SECONDS COMMAND...: runs COMMAND with its output in $W/NAME.log under
# min(LIMIT, what is left of the budget), and adds one result line.
part() {
  local name=$1 limit=$2
  shift 2
  case " $PARTS " in *" $name "*) ;; *) return 0 ;; esac
  local left=$((BUDGET - $(elapsed) - 8))
  if [ "$left" -lt 15 ]; then
    echo "$name: NOT RUN: the ${BUDGET} s budget was spent" >>"$W/results"
    return 0
  fi
  limit=$((limit * ${GPU_CHECK_SCALE:-1}))
  [ "$limit" -gt "$left" ] && limit=$left
  local log=$W/$name.log t0 rc secs
  say "$name: $* (limit ${limit} s)"
  t0=$(date +%s)
  timeout -k 10 "$limit" "$@" >"$log" 2>&1
  rc=$?
  secs=$(($(date +%s) - t0))
  local counts verdict
  counts=$(grep -ao 'hydranet: [0-9]* passed, [0-9]* failed, [0-9]* skipped' "$log" | tail -1 | sed 's/^hydranet: //')
  if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then verdict="TIMED OUT after ${limit} s"
  elif [ "$rc" = 0 ]; then verdict=ok
  else verdict="FAILED (exit $rc)"; fi
  if [ -n "$counts" ]; then
    case "$counts" in "0 passed, 0 failed, 0 skipped") verdict="$verdict, NOTHING RAN" ;; "0 passed, 0 failed,"*) verdict="$verdict, ALL SKIPPED" ;; esac
  fi
  echo "$name: $verdict, ${secs} s${counts:+, $counts}" >>"$W/results"
  # The reasons: skip lines, failing test titles and their first message line.
  grep -a -E '^\s*(skipped:|\(.* skipped: )' "$log" | sed 's/^ */    skip: /' | awk '!seen[$0]++' | head -n 4 >>"$W/results"
  grep -a -A 3 -E '^  [0-9]+\) ' "$log" | grep -a -v '^--$' | head -24 | sed 's/^/    /' >>"$W/results"
  if [ "$rc" != 0 ] && [ -z "$counts" ]; then tail -n 5 "$log" | sed 's/^/    | /' >>"$W/results"; fi
  # torch-gemm's figures are in the summary; its log only in logs.tgz (8 files at most in $OUT).
  [ "$name" != torch-gemm ] && cp "$log" "$OUT/$name.log" 2>/dev/null
  write_summary
}

# needs NAME WHAT PATTERN: true when the probe found PATTERN; else notes NAME as skipped.
needs() {
  case " $PARTS " in *" $1 "*) ;; *) return 1 ;; esac
  grep -qE "$3" "$W/probe.txt" && return 0
  echo "$1: SKIPPED: $2 ($(grep -m1 "$(echo "$2" | cut -d' ' -f1)" "$W/probe.txt" || echo 'see probe'))" >>"$W/results"
  write_summary
  return 1
}

# bench_figures NAME JSON: the bench's steps/s, ratios and GEMM records, one line each.
bench_figures() {
  [ -f "$2" ] || return 0
  node --input-type=module -e '
    import * as fs from "node:fs";
    const recs = JSON.parse(fs.readFileSync(process.argv[1], "utf8"));
    const lines = [];
    for (const r of recs) {
      if (r.median == null || r.skipped) continue;
      if (!/steps_per_s|ratio|flops|time_to_target/i.test(String(r.metric))) continue;
      const range = r.min != null && r.max != null ? ` [${+r.min.toPrecision(4)}…${+r.max.toPrecision(4)}]` : "";
      lines.push(`  ${[r.workload, r.system, r.backend, r.peer_backend ? `vs ${r.peer_backend}` : "", r.case ?? ""].filter(Boolean).join(" ")} ${r.metric}: ${+Number(r.median).toPrecision(4)}${r.unit ? " " + r.unit : ""}${range}`);
    }
    console.log(lines.join("\n"));
  ' "$2" >"$W/figures-$1.txt.tmp" 2>&1 && { echo "$1 figures:"; cat "$W/figures-$1.txt.tmp"; } >"$W/figures-$1.txt"
  rm -f "$W/figures-$1.txt.tmp"
  write_summary
}

part cuda-parity 150 "${MOCHA[@]}" --grep cuda dist/test/backends/parity/*.spec.js dist/test/backends/cuda.spec.js dist/test/backends/cuda-free.spec.js dist/test/backends/capabilities.spec.js
part cuda-train 90 "${MOCHA[@]}" --grep cuda dist/test/train/trainer.spec.js dist/test/train/clipping.spec.js dist/test/train/optimizer-freeze.spec.js dist/test/train/steady-state.spec.js dist/test/mtl/weighting.spec.js dist/test/mtl/embedding.spec.js
part nccl 60 "${MOCHA[@]}" dist/test/distributed/nccl.spec.js
needs bench-cuda 'cuda addon: no CUDA device' '"devices":[1-9]' && part bench-cuda 300 node dist/bench/bench.js --quick --backend cuda --json-out "$W/bench-cuda.json"
bench_figures bench-cuda "$W/bench-cuda.json"
cat >"$W/torch_gemm.py" <<'EOF'
# PyTorch's matmul (cuBLAS) at the GEMM shapes of hydranet's bench, TF32 allowed as on hydranet's
# cuda backend: the peer its GEMM TFLOP/s is compared with. Median of 7 windows of >= 0.2 s.
import time, torch
assert torch.cuda.is_available(), "no GPU for PyTorch"
torch.backends.cuda.matmul.allow_tf32 = True
print("torch", torch.__version__, torch.cuda.get_device_name(0), "TF32 allowed")
for m, n, k in [(1024, 1024, 1024), (4096, 4096, 4096), (256, 512, 784), (1024, 2048, 2048), (8192, 8192, 8192)]:
    a = torch.rand(m, k, device="cuda"); b = torch.rand(k, n, device="cuda"); c = torch.empty(m, n, device="cuda")
    for _ in range(3): torch.matmul(a, b, out=c)
    torch.cuda.synchronize()
    rates = []
    for _ in range(7):
        it, t0 = 0, time.perf_counter()
        while True:
            torch.matmul(a, b, out=c); it += 1
            if it % 8 == 0:
                torch.cuda.synchronize()
                if time.perf_counter() - t0 >= 0.2: break
        rates.append(2 * m * n * k * it / (time.perf_counter() - t0) / 1e12)
    rates.sort()
    print(f"  torch matmul {m}x{n}x{k}: {rates[3]:.1f} TFLOP/s [{rates[0]:.1f}..{rates[-1]:.1f}]")
EOF
part torch-gemm 40 python3 "$W/torch_gemm.py"
[ -f "$W/torch-gemm.log" ] && grep -a 'TFLOP/s\|^torch' "$W/torch-gemm.log" | sed '1s/^/torch-gemm figures: /' >"$W/figures-torch-gemm.txt" && write_summary
part webgpu-parity 120 "${MOCHA[@]}" --grep webgpu dist/test/backends/parity/*.spec.js dist/test/backends/webgpu.spec.js
needs bench-webgpu 'webgpu adapter: none' '^webgpu adapter:' && part bench-webgpu 150 node dist/bench/bench.js --quick --backend webgpu --workload W1 --json-out "$W/bench-webgpu.json"
bench_figures bench-webgpu "$W/bench-webgpu.json"
say "done"
exit 0
