#!/usr/bin/env node
// npm's "prepack" step: brings the cmake-js build up to date (a no-op when it is) and puts
// stripped copies of build/Release/hydranet_cpu.node (and hydranet_cuda.node, when nvcc built
// it) into prebuilds/<platform>-<arch>/, which the package ships and the loader
// (ts/backends/native.ts) and scripts/install.mjs use when nothing was compiled on the machine.
// npm then runs "prepare" (tsc) and packs. Progress goes to stderr, so `npm pack --json` stays JSON. A build with CPU-specific flags (-march=native, -mavx2,
// ... in CXXFLAGS) is refused: the cpu addon picks its AVX2 / AVX-512 kernels at run time, so one
// baseline x86-64 build serves every CPU, and a prebuilt must stay that way.
import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildNative } from './build-native.mjs';
import { findOnPath } from './toolchain.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const release = join(root, 'build', 'Release');
const isaFlag = /-march=|-mtune=native|-mavx|-mfma/;

function main() {
  const status = buildNative();
  if (status !== 0) return status;
  const cache = join(root, 'build', 'CMakeCache.txt');
  const flags = existsSync(cache) ? readFileSync(cache, 'utf8').split('\n').filter((l) => /^CMAKE_CXX_FLAGS[:=]/.test(l) && isaFlag.test(l)) : [];
  if (flags.length > 0) {
    console.error(`hydranet: refusing to ship a prebuilt addon built with CPU-specific flags (${flags.join('; ')} in build/CMakeCache.txt): unset them, remove build/ and pack again.`);
    return 1;
  }
  const out = join(root, 'prebuilds', `${process.platform}-${process.arch}`);
  rmSync(join(root, 'prebuilds'), { recursive: true, force: true });
  mkdirSync(out, { recursive: true });
  const strip = findOnPath(['strip']);
  for (const name of ['hydranet_cpu.node', 'hydranet_cuda.node']) {
    const from = join(release, name);
    if (!existsSync(from)) continue;
    const to = join(out, name);
    const stripped = strip && spawnSync(strip, ['--strip-unneeded', '-o', to, from], { stdio: 'inherit' }).status === 0;
    if (!stripped) copyFileSync(from, to);
    const kb = (file) => `${Math.round(statSync(file).size / 1024)} KiB`;
    console.error(`hydranet: prebuilt ${relative(root, to)} (${kb(to)}${stripped ? `, stripped from ${kb(from)}` : ', not stripped: no strip on PATH'})`);
  }
  return 0;
}

process.exit(main());
