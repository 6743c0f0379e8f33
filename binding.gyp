# node-gyp build of the same addon as CMakeLists.txt (`npm run build:native:gyp`, output in
# build-gyp/build/Release so cmake-js's build/ is left alone). Keep the source list equal to
# HYDRANET_CPU_SOURCES in CMakeLists.txt (test/backends/build-files.spec.ts checks it).
{
  "targets": [
    {
      "target_name": "hydranet_cpu",
      "sources": [
        "native/addon.cc",
        "native/cpu/channels.cc",
        "native/cpu/conv.cc",
        "native/cpu/csv.cc",
        "native/cpu/cpu_features.cc",
        "native/cpu/elementwise.cc",
        "native/cpu/embedding.cc",
        "native/cpu/ewc.cc",
        "native/cpu/gemm.cc",
        "native/cpu/graddrop.cc",
        "native/cpu/heads.cc",
        "native/cpu/isa_avx2.cc",
        "native/cpu/isa_avx512.cc",
        "native/cpu/isa_scalar.cc",
        "native/cpu/loss.cc",
        "native/cpu/mixture.cc",
        "native/cpu/optim.cc",
        "native/cpu/pool.cc",
        "native/cpu/threadpool.cc"
      ],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")", "native"],
      "defines": ["NAPI_VERSION=8", "NAPI_DISABLE_CPP_EXCEPTIONS"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti", "-std=gnu++17"],
      "cflags_cc": ["-std=c++17", "-fexceptions", "-O3", "-Wno-psabi", "-fno-math-errno", "-fvisibility=hidden"],
      "ldflags": ["-pthread"]
    }
  ]
}
