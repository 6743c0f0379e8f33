#!/usr/bin/env node
// Builds the native addons from source without downloading anything.
//   node scripts/build-native.mjs          cmake-js → build/Release/hydranet_cpu.node (and
//                                          hydranet_cuda.node where nvcc is found; HYDRANET_CUDA=OFF
//                                          skips it, HYDRANET_CUDA=ON requires it; hydranet_mpi.node
//                                          where an MPI is found, HYDRANET_MPI=OFF/ON likewise)
//   node scripts/build-native.mjs gyp      node-gyp → build-gyp/build/Release/hydranet_cpu.node
// The tools are resolved as modules (createRequire), so they are found wherever npm installed
// them: in this package's node_modules or hoisted into a consumer project's. cmake-js takes the
// Node-API headers from its own dependency node-api-headers (package.json "binary.napi_versions"
// tells it the addons use Node-API only), so it never fetches node's headers. node-gyp always
// writes (and cleans) build/ beside binding.gyp, so it builds in build-gyp/ through symlinks and
// leaves cmake-js's build/ alone; it needs node's headers beside the running node.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, symlinkSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { missingTools, packageBin, toolchainAdvice } from './toolchain.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');

function fail(message) {
  console.error(`hydranet: ${message}`);
  return 1;
}

function run(bin, args, env = process.env) {
  const result = spawnSync(process.execPath, [bin, ...args], { cwd: root, env, stdio: [0, 2, 2] });
  if (result.error) return fail(`could not run the native build: ${result.error.message}`);
  return result.status ?? 1;
}

function cmakeJs() {
  const bin = packageBin('cmake-js', 'cmake-js');
  if (!bin) return fail('cannot build the native addon: the npm package cmake-js is not installed: run `npm install` (`npm ci` in a checkout) first.');
  const cuda = process.env.HYDRANET_CUDA;
  if (cuda !== undefined && !/^(ON|OFF)$/.test(cuda)) return fail(`HYDRANET_CUDA must be ON or OFF but is "${cuda}".`);
  const args = ['compile', '--log-level', 'warn', '--parallel', String(availableParallelism())];
  if (cuda) args.push(`--CDHYDRANET_CUDA=${cuda}`);
  const mpi = process.env.HYDRANET_MPI; // the MPI addon (native/mpi): built where an MPI is found
  if (mpi !== undefined && !/^(ON|OFF)$/.test(mpi)) return fail(`HYDRANET_MPI must be ON or OFF but is "${mpi}".`);
  if (mpi) args.push(`--CDHYDRANET_MPI=${mpi}`);
  return run(bin, args);
}

function nodeGyp() {
  const bin = packageBin('node-gyp', 'node-gyp');
  if (!bin) return fail('cannot build with node-gyp: it is not installed (`npm install --no-save node-gyp`), or use `npm run build:native` (cmake-js).');
  const prefix = resolve(process.execPath, '../..');
  if (!existsSync(join(prefix, 'include/node/node.h'))) {
    return fail(`node-gyp needs node's headers in ${join(prefix, 'include/node')} and would download them; use \`npm run build:native\` (cmake-js), which needs none.`);
  }
  const dir = join(root, 'build-gyp');
  mkdirSync(dir, { recursive: true });
  for (const name of ['native', 'binding.gyp']) {
    rmSync(join(dir, name), { force: true });
    symlinkSync(join('..', name), join(dir, name));
  }
  return run(bin, ['rebuild', '--directory', dir], { ...process.env, npm_config_nodedir: prefix });
}

/** Builds with cmake-js (or node-gyp when tool is 'gyp'); returns the exit status. */
export function buildNative(tool) {
  const missing = missingTools().filter((need) => !(need === 'cmake' && tool === 'gyp'));
  if (missing.length > 0) return fail(`cannot build the native addon: ${toolchainAdvice(missing)}`);
  return tool === 'gyp' ? nodeGyp() : cmakeJs();
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  process.exit(buildNative(process.argv[2]));
}
