#!/usr/bin/env node
// Builds the native CPU addon without downloading anything: cmake-js and node-gyp are pointed
// at the headers installed beside the running node (<prefix>/include/node) when they exist.
//   node scripts/build-native.mjs          cmake-js → build/Release/hydranet_cpu.node
//   node scripts/build-native.mjs gyp      node-gyp → build-gyp/build/Release/hydranet_cpu.node
// node-gyp always writes (and cleans) build/ beside binding.gyp, so it builds in build-gyp/
// through symlinks and leaves cmake-js's build/ alone.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, symlinkSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const prefix = resolve(process.execPath, '../..');
const env = { ...process.env };
if (existsSync(join(prefix, 'include/node/node.h'))) env.npm_config_nodedir = prefix;
const bin = (name) => join(root, 'node_modules/.bin', name);

let result;
if (process.argv[2] === 'gyp') {
  const dir = join(root, 'build-gyp');
  mkdirSync(dir, { recursive: true });
  for (const name of ['native', 'binding.gyp']) {
    rmSync(join(dir, name), { force: true });
    symlinkSync(join('..', name), join(dir, name));
  }
  result = spawnSync(bin('node-gyp'), ['rebuild', '--directory', dir], { cwd: root, env, stdio: 'inherit' });
} else {
  result = spawnSync(bin('cmake-js'), ['compile', '--log-level', 'warn'], { cwd: root, env, stdio: 'inherit' });
}
if (result.error) {
  console.error(`hydranet: could not run the native build: ${result.error.message}`);
  process.exit(1);
}
process.exit(result.status ?? 1);
