// Counter-based randomness, bit-identical to ts/core/random.ts (hash32, hashUniform,
// dropoutKeep) and native/cpu/random.h: a kernel derives each element's draw from (seed, index).

fn hash32(seed: u32, index: u32) -> u32 {
  var h = (index * 0x9e3779b1u) ^ seed;
  h = h ^ (h >> 16u);
  h = h * 0x85ebca6bu;
  h = h ^ (h >> 13u);
  h = h * 0xc2b2ae35u;
  h = h ^ (h >> 16u);
  return h;
}

// The 24 high bits of hash32 as an integer: hashUniform = hash24 / 2^24. Comparing it with an
// integer threshold ceil(p * 2^24) (computed on the host in f64) decides exactly as
// dropoutKeep does in f64.
fn hash24(seed: u32, index: u32) -> u32 {
  return hash32(seed, index) >> 8u;
}

fn hash_uniform(seed: u32, index: u32) -> f32 {
  return f32(hash24(seed, index)) * (1.0 / 16777216.0);
}
