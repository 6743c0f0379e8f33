// What the native addons (hydranet_cpu, hydranet_cuda) share at the N-API boundary: reading and
// checking scalar arguments, and turning every failure into a JS error. An entry point reads its
// arguments through an Args class derived from ArgsBase, which throws ArgTypeError /
// ArgRangeError; `guarded` catches them (and NativeFailure, std::exception, anything) and throws
// TypeError / RangeError / Error in JavaScript, so no C++ exception ever crosses the boundary.
#pragma once
#include <napi.h>

#include <cmath>
#include <cstdint>
#include <exception>
#include <limits>
#include <cstdio>
#include <new>
#include <string>

#include "adamw.h"
#include "random.h"

namespace hydranet::napi {

struct ArgTypeError {
  std::string message;
};
struct ArgRangeError {
  std::string message;
};
// A failure below the arguments (a CUDA call, a missing initialisation): a plain JS Error.
struct NativeFailure {
  std::string message;
};

class ArgsBase {
 public:
  ArgsBase(const Napi::CallbackInfo& info, const char* addon, const char* fn, size_t count)
      : info_(info), addon_(addon), fn_(fn) {
    if (info.Length() != count) {
      range_error(std::to_string(count) + " arguments expected, received " + std::to_string(info.Length()));
    }
  }

  double number(size_t i, const char* name) const {
    const Napi::Value v = info_[i];
    if (!v.IsNumber()) type_error(std::string("expected a number for ") + name);
    const double x = v.As<Napi::Number>().DoubleValue();
    if (!std::isfinite(x)) range_error(std::string("expected a finite number for ") + name);
    return x;
  }

  int64_t integer(size_t i, const char* name, int64_t lo, int64_t hi) const {
    const double x = number(i, name);
    if (x != std::floor(x) || x < double(lo) || x > double(hi)) {
      range_error(std::string("expected an integer in [") + std::to_string(lo) + ", " + std::to_string(hi) + "] for " +
                  name + ", received " + shown(x));
    }
    return static_cast<int64_t>(x);
  }

  // A number in [lo, hi] (in [lo, hi) when hi_open).
  double number_in(size_t i, const char* name, double lo, double hi, bool hi_open = false) const {
    const double x = number(i, name);
    if (!(x >= lo && (hi_open ? x < hi : x <= hi))) {
      range_error(std::string("expected ") + name + " in [" + shown(lo) + ", " + shown(hi) + (hi_open ? ")" : "]") +
                  ", received " + shown(x));
    }
    return x;
  }

  // AdamW's constants from adamwCoefficients (ts/backends/validate.ts), arguments first ..
  // first + 7 in its order: decay, beta1, oneMinusBeta1, beta2, oneMinusBeta2, eps, stepSize,
  // invBias2; rounded to f32, never recombined.
  AdamwParams adamw(size_t first) const {
    static const char* const names[8] = {"decay", "beta1", "oneMinusBeta1", "beta2", "oneMinusBeta2", "eps", "stepSize", "invBias2"};
    float v[8];
    for (size_t k = 0; k < 8; ++k) v[k] = static_cast<float>(number(first + k, names[k]));
    return {v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7]};
  }

  uint32_t u32(size_t i, const char* name) const { return static_cast<uint32_t>(integer(i, name, 0, 0xffffffffLL)); }

  // Dropout's (seed, threshold, scale), arguments first .. first + 2, as both addons take them:
  // keep ⇔ hash24(seed, i) ≥ threshold (dropoutThreshold(p) in ts/core/random.ts, at most 2^24),
  // scale = 1/(1 − p) rounded to f32.
  DropoutParams dropout(size_t first) const {
    return {u32(first, "seed"), static_cast<uint32_t>(integer(first + 1, "threshold", 0, 16777216)),
            static_cast<float>(number(first + 2, "scale"))};
  }

  int dim(size_t i, const char* name) const {
    return static_cast<int>(integer(i, name, 1, std::numeric_limits<int32_t>::max()));
  }

  bool boolean(size_t i, const char* name) const {
    const Napi::Value v = info_[i];
    if (!v.IsBoolean()) type_error(std::string("expected a boolean for ") + name);
    return v.As<Napi::Boolean>().Value();
  }

  // An index in ACTIVATIONS (backend.ts): none, relu, gelu, tanh, sigmoid.
  int activation_index(size_t i) const { return static_cast<int>(integer(i, "activation", 0, 4)); }

  Napi::Int32Array i32(size_t i, const char* name) const {
    const Napi::Value v = info_[i];
    if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_int32_array) {
      type_error(std::string("expected an Int32Array for ") + name);
    }
    return v.As<Napi::Int32Array>();
  }

  Napi::Env env() const { return info_.Env(); }

  [[noreturn]] void type_error(const std::string& m) const { throw ArgTypeError{prefix() + m}; }
  [[noreturn]] void range_error(const std::string& m) const { throw ArgRangeError{prefix() + m}; }
  [[noreturn]] void failure(const std::string& m) const { throw NativeFailure{prefix() + m}; }

 protected:
  std::string prefix() const { return std::string(addon_) + "." + fn_ + ": "; }
  // A number as JavaScript prints it, to 15 digits (0, 0.1, 1.5, 1e+40).
  static std::string shown(double x) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.15g", x);
    return buf;
  }
  const Napi::CallbackInfo& info_;
  const char* addon_;
  const char* fn_;
};

using Entry = Napi::Value (*)(const Napi::CallbackInfo&);

// Wraps an entry point: C++ exceptions become JS exceptions. Addon names the addon in messages.
template <const char* Addon, Entry F>
Napi::Value guarded(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  try {
    return F(info);
  } catch (const ArgTypeError& e) {
    Napi::TypeError::New(env, e.message).ThrowAsJavaScriptException();
  } catch (const ArgRangeError& e) {
    Napi::RangeError::New(env, e.message).ThrowAsJavaScriptException();
  } catch (const NativeFailure& e) {
    Napi::Error::New(env, e.message).ThrowAsJavaScriptException();
  } catch (const std::bad_alloc&) {
    Napi::Error::New(env, std::string(Addon) + ": out of host memory").ThrowAsJavaScriptException();
  } catch (const std::exception& e) {
    Napi::Error::New(env, std::string(Addon) + ": " + e.what()).ThrowAsJavaScriptException();
  } catch (...) {
    Napi::Error::New(env, std::string(Addon) + ": unknown native error").ThrowAsJavaScriptException();
  }
  return env.Undefined();
}

}  // namespace hydranet::napi
