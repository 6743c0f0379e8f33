// The element an invocation of a 1-D kernel handles: kernels run 256 invocations per workgroup
// over a grid of workgroups that runtime.ts's grid(n, 256) splits over x and y (x <= 65535).
fn linear_id(wg: vec3<u32>, nwg: vec3<u32>, lid: u32) -> u32 {
  return (wg.y * nwg.x + wg.x) * 256u + lid;
}
