/**
 * The packed Int32Array of each layout (HeadLayout, MixtureLayout, Conv2dGeometry,
 * Pool2dGeometry, LossLayout), kept where user code cannot reach it: the backends hand it to
 * native code and GPU uniforms, so it must stay what the layout's constructor checked. This
 * module is not exported from the package (package.json `exports` names only the index), so
 * the only way to the array is `packedOf`, inside hydranet; a layout's public `packed` getter
 * returns a copy. The native addons check every packed layout again (native/layouts.h), so
 * even a tampered array cannot crash the process; this keeps results from silently changing.
 */
const store = new WeakMap<object, Int32Array>();

/** Records a layout's packed array (its constructor calls this once). */
export function setPacked(layout: object, packed: Int32Array): void {
  if (store.has(layout)) throw new Error('a layout is packed once, by its constructor');
  store.set(layout, packed);
}

/** The layout's own packed array, for backends: never hand it to user code, never write to it. */
export function packedOf(layout: object): Int32Array {
  const p = store.get(layout);
  if (p === undefined) throw new TypeError('not a layout built by its constructor');
  return p;
}
