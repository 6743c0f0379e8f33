#!/usr/bin/env node
// npm's "install" step for hydranet.
// - In a source checkout (ts/ is there; the package never ships it): build from source.
// - In an installed package: when the prebuilt addon for this platform (prebuilds/<platform>-<arch>/,
//   put there by `npm pack`) loads and is hydranet's, use it and say so in one line; otherwise build
//   from source. HYDRANET_BUILD_FROM_SOURCE=1 always builds from source.
// - When a build is needed but cmake, a C++17 compiler or make is missing: print what is missing
//   and the command that fixes it, and succeed anyway (unless HYDRANET_BUILD_FROM_SOURCE=1 asked
//   for the build): the 'reference' and 'webgpu' backends work without the addon, and
//   createBackend('cpu') then throws BackendUnavailableError with the same guidance.
// A build that starts and fails fails the install: the toolchain is there, so its errors are real.
import { existsSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildNative } from './build-native.mjs';
import { missingTools, toolchainAdvice } from './toolchain.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const forced = /^(1|true|yes|on)$/i.test(process.env.HYDRANET_BUILD_FROM_SOURCE ?? '');
const checkout = existsSync(join(root, 'ts'));

/** The prebuilt addons that load here, or why the cpu one does not. */
async function loadPrebuilt() {
  const native = await import('../dist/ts/backends/native.js');
  const load = (name) =>
    native.tryLoadAddon(
      native.addonLocations(name, root).filter((location) => location.origin === 'prebuilt'),
      native.ADDON_EXPORTS[name],
    );
  const cpu = load('cpu');
  if (!cpu.ok) return { files: [], why: cpu.failures.join('; ') };
  const cuda = load('cuda');
  return { files: [cpu, ...(cuda.ok ? [cuda] : [])].map((r) => relative(root, r.location.file)) };
}

async function main() {
  let why = forced ? 'HYDRANET_BUILD_FROM_SOURCE is set' : 'this is a source checkout';
  if (!forced && !checkout) {
    const prebuilt = await loadPrebuilt();
    if (prebuilt.files.length > 0) {
      console.log(
        `hydranet: using the prebuilt native addon (${prebuilt.files.join(', ')}); ` +
          '`HYDRANET_BUILD_FROM_SOURCE=1 npm rebuild hydranet` compiles it instead.',
      );
      return 0;
    }
    why = `no prebuilt addon loads on ${process.platform}-${process.arch} (${prebuilt.why})`;
  }
  const missing = missingTools();
  if (missing.length > 0) {
    console.error(`hydranet: the native cpu addon is not installed: ${why}, and ${toolchainAdvice(missing)}`);
    return forced ? 1 : 0;
  }
  console.log(`hydranet: building the native addon from source (${why}).`);
  return buildNative();
}

process.exit(await main());
