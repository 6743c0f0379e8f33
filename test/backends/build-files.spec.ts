/**
 * The two native build descriptions, CMakeLists.txt (cmake-js) and binding.gyp (node-gyp),
 * must compile the same sources: this spec parses both lists and checks that they agree, that
 * every listed file exists, and that every native/cpu/*.cc is listed.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root: the nearest directory above this file holding CMakeLists.txt. */
function repoRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  while (!existsSync(path.join(dir, 'CMakeLists.txt'))) {
    const up = path.dirname(dir);
    if (up === dir) throw new Error('CMakeLists.txt not found above the test');
    dir = up;
  }
  return dir;
}

/** The entries of `set(HYDRANET_CPU_SOURCES ...)` in CMakeLists.txt. */
function cmakeSources(root: string): string[] {
  const text = readFileSync(path.join(root, 'CMakeLists.txt'), 'utf8');
  const match = /set\(\s*HYDRANET_CPU_SOURCES\s+([^)]*)\)/.exec(text);
  assert.ok(match, 'CMakeLists.txt has no set(HYDRANET_CPU_SOURCES ...)');
  return match[1]
    .split('\n')
    .map((line) => line.replace(/#.*/, '').trim())
    .flatMap((line) => line.split(/\s+/))
    .filter((s) => s.length > 0);
}

/** The sources of the hydranet_cpu target in binding.gyp (JSON once its # comments are gone). */
function gypSources(root: string): string[] {
  const text = readFileSync(path.join(root, 'binding.gyp'), 'utf8');
  const json = text
    .split('\n')
    .filter((line) => !/^\s*#/.test(line))
    .join('\n');
  const gyp = JSON.parse(json) as { targets: { target_name: string; sources: string[] }[] };
  const target = gyp.targets.find((t) => t.target_name === 'hydranet_cpu');
  assert.ok(target, 'binding.gyp has no hydranet_cpu target');
  return target.sources;
}

describe('native build files', () => {
  const root = repoRoot();

  it('CMakeLists.txt and binding.gyp list the same sources', () => {
    assert.deepEqual([...gypSources(root)].sort(), [...cmakeSources(root)].sort());
  });

  it('every listed source exists', () => {
    for (const src of cmakeSources(root)) assert.ok(existsSync(path.join(root, src)), `${src} is listed but missing`);
  });

  it('every native/cpu/*.cc and native/addon.cc is listed', () => {
    const listed = new Set(cmakeSources(root));
    const files = readdirSync(path.join(root, 'native', 'cpu'))
      .filter((f) => f.endsWith('.cc'))
      .map((f) => `native/cpu/${f}`);
    for (const f of [...files, 'native/addon.cc']) assert.ok(listed.has(f), `${f} is not in the build files`);
  });
});
