// Readable notifications for an fd, from the libuv loop of the thread that asked (the main
// thread or a worker_thread: napi_get_uv_event_loop gives the env's own loop).
//
// uv_poll is level-triggered: the callback fires on every loop turn while the fd stays readable,
// so the JS side drains with readBatch/recvBatch and may stop early (backpressure) without losing
// a wakeup. Each poller registers an env cleanup hook, so a worker that exits without pollStop
// closes its handles before its loop is torn down (an open handle there aborts the process).
#include <uv.h>

#include <string>

#include "calls.h"
#include "errors.h"

namespace sy {

namespace {

struct Poller {
  uv_poll_t handle;
  napi_env env;
  napi_ref callback;
  napi_ref receiver;
  napi_async_context async;
  bool stopped;
};

void OnClosed(uv_handle_t* h) { delete static_cast<Poller*>(h->data); }

// Stops polling and releases the JS references; the memory goes when libuv has closed the handle.
void Stop(Poller* p) {
  if (p->stopped) return;
  p->stopped = true;
  uv_poll_stop(&p->handle);
  napi_delete_reference(p->env, p->callback);
  napi_delete_reference(p->env, p->receiver);
  napi_async_destroy(p->env, p->async);
  uv_close(reinterpret_cast<uv_handle_t*>(&p->handle), OnClosed);
}

void CleanupHook(void* arg) { Stop(static_cast<Poller*>(arg)); }

void OnReadable(uv_poll_t* h, int /*status*/, int /*events*/) {
  // On an error status (POLLERR) libuv has already stopped the handle; the callback still runs
  // once so the next read returns the error to JS.
  Poller* p = static_cast<Poller*>(h->data);
  if (p->stopped) return;
  napi_env env = p->env;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  napi_value cb, recv, result;
  napi_get_reference_value(env, p->callback, &cb);
  napi_get_reference_value(env, p->receiver, &recv);
  // The receiver must be an object: with undefined, napi_make_callback fails and leaves an
  // exception pending, and the level-triggered poll then spins (FACTS.md).
  napi_status s = napi_make_callback(env, p->async, recv, cb, 0, nullptr, &result);
  if (s == napi_pending_exception) {
    // A throwing callback becomes an uncaught exception, as it would for any Node I/O callback.
    napi_value exc;
    napi_get_and_clear_last_exception(env, &exc);
    napi_fatal_exception(env, exc);
  }
  napi_close_handle_scope(env, scope);
}

}  // namespace

// pollStart(fd, callback) -> handle. One poller per fd and loop (libuv's rule).
Napi::Value PollStart(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = ArgFd(info, 0);
  if (!info[1].IsFunction()) throw Napi::TypeError::New(env, "pollStart: callback must be a function");
  uv_loop_t* loop = nullptr;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok || loop == nullptr) {
    throw Napi::Error::New(env, "pollStart: no libuv loop for this thread");
  }
  Poller* p = new Poller();
  p->env = env;
  p->stopped = false;
  p->handle.data = p;
  int r = uv_poll_init(loop, &p->handle, fd);
  if (r < 0) {
    delete p;
    ThrowErrno(env, -r, "pollStart fd " + std::to_string(fd) + ": uv_poll_init", "uv_poll_init");
  }
  Napi::Object handle = Napi::Object::New(env);
  napi_create_reference(env, info[1], 1, &p->callback);
  napi_create_reference(env, env.Global(), 1, &p->receiver);
  napi_async_init(env, handle, Napi::String::New(env, "switchyard:poll"), &p->async);
  r = uv_poll_start(&p->handle, UV_READABLE, OnReadable);
  if (r < 0) {
    Stop(p);
    ThrowErrno(env, -r, "pollStart fd " + std::to_string(fd) + ": uv_poll_start", "uv_poll_start");
  }
  napi_add_env_cleanup_hook(env, CleanupHook, p);
  // The handle object only names the poller; pollStop unwraps it, so a second stop is a no-op.
  // Dropping the handle does not stop polling (like an fd, the poller lives until stopped).
  napi_wrap(env, handle, p, nullptr, nullptr, nullptr);
  handle.Set("fd", Napi::Number::New(env, fd));
  return handle;
}

// pollStop(handle): stops the poller; idempotent.
Napi::Value PollStop(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsObject()) throw Napi::TypeError::New(env, "pollStop: handle must be a pollStart handle");
  void* data = nullptr;
  if (napi_remove_wrap(env, info[0], &data) != napi_ok || data == nullptr) {
    napi_value ignored;
    napi_get_and_clear_last_exception(env, &ignored);  // not wrapped (already stopped)
    return env.Undefined();
  }
  Poller* p = static_cast<Poller*>(data);
  napi_remove_env_cleanup_hook(env, CleanupHook, p);
  Stop(p);
  return env.Undefined();
}

}  // namespace sy
