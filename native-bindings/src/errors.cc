// Error construction and argument checks (see errors.h for the two error conventions).
#include "errors.h"

#include <uv.h>

#include <cmath>
#include <cstring>

namespace sy {

void ThrowErrno(Napi::Env env, int err, const std::string& what, const char* syscall) {
  // libuv's error codes are -errno on Unix, so uv_err_name gives the symbolic name ("EBUSY")
  // without a table of our own.
  const char* name = uv_err_name(-err);
  Napi::Error e = Napi::Error::New(env, what + ": " + std::strerror(err) + " (" + name + ")");
  e.Set("code", Napi::String::New(env, name));
  e.Set("errno", Napi::Number::New(env, -err));  // Node's convention: negative
  e.Set("syscall", Napi::String::New(env, syscall));
  throw e;
}

void ThrowRange(Napi::Env env, const std::string& msg) { throw Napi::RangeError::New(env, msg); }

template <typename T>
static Span<T> TypedArg(const Napi::CallbackInfo& info, size_t i, const char* name, napi_typedarray_type want,
                        const char* want_name) {
  Napi::Env env = info.Env();
  napi_value v = info[i];
  bool is_ta = false;
  napi_is_typedarray(env, v, &is_ta);
  napi_typedarray_type type;
  size_t length = 0;
  void* data = nullptr;
  if (is_ta) napi_get_typedarray_info(env, v, &type, &length, &data, nullptr, nullptr);
  if (!is_ta || type != want) {
    throw Napi::TypeError::New(env, std::string(name) + " must be a " + want_name);
  }
  // data is already adjusted by the view's byteOffset; works for SharedArrayBuffer slabs too.
  return Span<T>{static_cast<T*>(data), length};
}

Span<uint8_t> ArgU8(const Napi::CallbackInfo& info, size_t i, const char* name) {
  return TypedArg<uint8_t>(info, i, name, napi_uint8_array, "Uint8Array");
}
Span<int32_t> ArgI32(const Napi::CallbackInfo& info, size_t i, const char* name) {
  return TypedArg<int32_t>(info, i, name, napi_int32_array, "Int32Array");
}
Span<uint32_t> ArgU32(const Napi::CallbackInfo& info, size_t i, const char* name) {
  return TypedArg<uint32_t>(info, i, name, napi_uint32_array, "Uint32Array");
}
Span<double> ArgF64(const Napi::CallbackInfo& info, size_t i, const char* name) {
  return TypedArg<double>(info, i, name, napi_float64_array, "Float64Array");
}
Span<uint16_t> ArgU16Opt(const Napi::CallbackInfo& info, size_t i, const char* name) {
  if (info[i].IsUndefined() || info[i].IsNull()) return Span<uint16_t>{nullptr, 0};
  return TypedArg<uint16_t>(info, i, name, napi_uint16_array, "Uint16Array");
}

static int64_t CheckInt(Napi::Env env, const Napi::Value& v, const char* name, int64_t lo, int64_t hi) {
  if (!v.IsNumber()) throw Napi::TypeError::New(env, std::string(name) + " must be a number");
  double d = v.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(d) || std::floor(d) != d || d < static_cast<double>(lo) || d > static_cast<double>(hi)) {
    ThrowRange(env, std::string(name) + " must be an integer in [" + std::to_string(lo) + ", " +
                        std::to_string(hi) + "], got " + std::to_string(d));
  }
  return static_cast<int64_t>(d);
}

int64_t ArgInt(const Napi::CallbackInfo& info, size_t i, const char* name, int64_t lo, int64_t hi) {
  return CheckInt(info.Env(), info[i], name, lo, hi);
}

int64_t ArgIntOpt(const Napi::CallbackInfo& info, size_t i, const char* name, int64_t lo, int64_t hi,
                  int64_t dflt) {
  if (info[i].IsUndefined()) return dflt;
  return CheckInt(info.Env(), info[i], name, lo, hi);
}

static Napi::Value Prop(const Napi::Value& opts, const char* key) {
  if (!opts.IsObject()) return opts.Env().Undefined();
  return opts.As<Napi::Object>().Get(key);
}

bool OptBool(const Napi::Value& opts, const char* key, bool dflt) {
  Napi::Value v = Prop(opts, key);
  if (v.IsUndefined()) return dflt;
  return v.ToBoolean().Value();
}

int64_t OptInt(const Napi::Value& opts, const char* key, int64_t lo, int64_t hi, int64_t dflt) {
  Napi::Value v = Prop(opts, key);
  if (v.IsUndefined()) return dflt;
  return CheckInt(opts.Env(), v, key, lo, hi);
}

}  // namespace sy
