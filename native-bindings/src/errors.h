// Errors and argument checks shared by every call of the addon.
//
// Two conventions (STYLE.md 5): setup calls (open, ioctl, bind) throw a JS Error whose .code is
// the errno name, so the agent can tell EPERM from EBUSY; batch calls return -errno and never
// throw on I/O, so the hot loop pays nothing for errors it does not have.
// Argument checks throw TypeError/RangeError: a wrong slab or index is a bug, and bounds are
// checked once per call so a bad index can never write outside the slab.
#pragma once

#include <napi.h>

#include <cstddef>
#include <cstdint>
#include <string>

namespace sy {

// Throws Error{code: "EPERM", errno: -1, syscall} with message "<what>: <strerror> (EPERM)".
[[noreturn]] void ThrowErrno(Napi::Env env, int err, const std::string& what, const char* syscall);

template <typename T>
struct Span {
  T* data;
  size_t len;  // elements
  T& operator[](size_t i) const { return data[i]; }
};

// The typed-array arguments of the batch calls, checked for their element type.
Span<uint8_t> ArgU8(const Napi::CallbackInfo& info, size_t i, const char* name);
Span<int32_t> ArgI32(const Napi::CallbackInfo& info, size_t i, const char* name);
Span<uint32_t> ArgU32(const Napi::CallbackInfo& info, size_t i, const char* name);
// An optional Uint16Array: {nullptr, 0} when the argument is undefined.
Span<double> ArgF64(const Napi::CallbackInfo& info, size_t i, const char* name);
Span<uint16_t> ArgU16Opt(const Napi::CallbackInfo& info, size_t i, const char* name);

// An integral number argument within [lo, hi].
int64_t ArgInt(const Napi::CallbackInfo& info, size_t i, const char* name, int64_t lo, int64_t hi);
// As ArgInt, with a default when the argument is undefined.
int64_t ArgIntOpt(const Napi::CallbackInfo& info, size_t i, const char* name, int64_t lo, int64_t hi,
                  int64_t dflt);
// A file descriptor argument.
inline int ArgFd(const Napi::CallbackInfo& info, size_t i) {
  return static_cast<int>(ArgInt(info, i, "fd", 0, INT32_MAX));
}

// Reads an optional property of an options object (undefined/absent object -> default).
bool OptBool(const Napi::Value& opts, const char* key, bool dflt);
int64_t OptInt(const Napi::Value& opts, const char* key, int64_t lo, int64_t hi, int64_t dflt);

[[noreturn]] void ThrowRange(Napi::Env env, const std::string& msg);

}  // namespace sy
