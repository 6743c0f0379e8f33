// What building the native addon from source needs, found the way the build will find it, and
// the one message that says what is missing and how to get it. Used by build-native.mjs and
// install.mjs.
import { accessSync, constants, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { delimiter, dirname, join } from 'node:path';

/** The first executable called one of `names` on PATH, or null. */
export function findOnPath(names, path = process.env.PATH ?? '') {
  for (const dir of path.split(delimiter).filter(Boolean)) {
    for (const name of names) {
      try {
        accessSync(join(dir, name), constants.X_OK);
        return join(dir, name);
      } catch {
        // not here
      }
    }
  }
  return null;
}

/** The tools a cmake-js build needs that are not on PATH ([] when it can build). */
export function missingTools(env = process.env) {
  const missing = [];
  if (!findOnPath(['cmake'], env.PATH)) missing.push('cmake');
  // CMake takes $CXX first, then c++ / g++ / clang++ from PATH.
  if (!(env.CXX && findOnPath([env.CXX], env.PATH)) && !findOnPath(['c++', 'g++', 'clang++'], env.PATH)) {
    missing.push('a C++17 compiler (g++ or clang++)');
  }
  if (!findOnPath(['make', 'ninja'], env.PATH)) missing.push('make (or ninja)');
  return missing;
}

/** The guidance printed when the addon can be neither loaded prebuilt nor built. */
export function toolchainAdvice(missing) {
  return (
    `building it from source needs cmake (>= 3.15), a C++17 compiler and make; missing: ${missing.join(', ')}.\n` +
    `  Fix: install them (Debian/Ubuntu: \`apt-get install cmake g++ make\`), then run \`npm rebuild hydranet\`.\n` +
    `  The 'reference' and 'webgpu' backends work without the native addon.`
  );
}

/**
 * The JavaScript entry of an npm package's command (its package.json "bin"), resolved as a
 * module from here, so it is found wherever npm put the package (hoisted into a consumer's
 * node_modules or not). Run it with process.execPath. Null when the package is not installed.
 */
export function packageBin(pkg, command) {
  let manifest;
  try {
    manifest = createRequire(import.meta.url).resolve(`${pkg}/package.json`);
  } catch {
    return null;
  }
  const { bin } = JSON.parse(readFileSync(manifest, 'utf8'));
  const entry = typeof bin === 'string' ? bin : bin?.[command];
  return entry ? join(dirname(manifest), entry) : null;
}
