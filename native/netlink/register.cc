// The generic netlink job kinds, for every subsystem whose messages TypeScript builds
// (lib/netlink/transport.ts). `protocol` is NETLINK_ROUTE (0), NETLINK_NETFILTER (12) or
// NETLINK_GENERIC (16); each runs on the handle's worker thread over that thread's socket.
//   netlinkSend(worker, protocol, bytes, ends, { chunk?, stopOnRefusal?, tolerate?, echo?, progress? })
//       pipelined requests, one ack each: { errnos, messages, replies? }; progress: Uint32Array(1)
//       holding the requests acknowledged so far (native/core/progress.h)
//   netlinkBatch(worker, protocol, bytes, ends)
//       one nfnetlink transaction in one sendmsg(): { errors: [{ index, errno, message?, offset? }], acked, firstSeq, data }
//   netlinkDump(worker, protocol, bytes, ends, { attempts? })
//       requests answered with data, restarted on NLM_F_DUMP_INTR: { data, sections, errnos, messages, interrupted, attempts }
//   netlinkDumpStream(worker, protocol, bytes, ends, onChunk, { chunkBytes? })
//       the same, replies handed to JS in chunks while the dump runs: see stream.cc
//   netlinkSubscribe(worker, protocol, groups, { rcvbuf? }) -> fd; new NetlinkListener(fd, onData): see subscribe.cc
#include <napi.h>

#include "../core/register.h"
#include "../core/worker.h"
#include "jobs.h"
#include "subscribe.h"

namespace nlkit {

Napi::Value NetlinkDumpStream(const Napi::CallbackInfo& info);  // stream.cc

namespace {

class ProtocolSendJob : public NetlinkSendJob {
 public:
  ProtocolSendJob(Napi::Env env, int protocol, Napi::Uint8Array data, Napi::Uint32Array ends, SendOptions o)
      : NetlinkSendJob(env, data, ends, std::move(o)), protocol_(protocol) {}

 private:
  NetlinkSocket* Prepare() override {
    NetlinkSocket* s = ThreadSocket(protocol_, failure);
    if (s == nullptr || !CheckLengths(failure, batch_, NLMSG_HDRLEN)) return nullptr;
    return s;
  }
  int protocol_;
};

// (worker, protocol, Uint8Array, Uint32Array, options?)
bool Args(const Napi::CallbackInfo& info, const char* usage, int* protocol) {
  bool ok = info.Length() >= 4 && Worker::Unwrap(info[0]) != nullptr && info[1].IsNumber() &&
            info[2].IsTypedArray() && info[3].IsTypedArray() &&
            info[2].As<Napi::TypedArray>().TypedArrayType() == napi_uint8_array &&
            info[3].As<Napi::TypedArray>().TypedArrayType() == napi_uint32_array &&
            (info.Length() < 5 || info[4].IsUndefined() || info[4].IsObject());
  if (ok) {
    *protocol = info[1].As<Napi::Number>().Int32Value();
    ok = KnownProtocol(*protocol);
  }
  if (!ok) Napi::TypeError::New(info.Env(), usage).ThrowAsJavaScriptException();
  return ok;
}

Napi::Object Options(const Napi::CallbackInfo& info) {
  return info.Length() > 4 && info[4].IsObject() ? info[4].As<Napi::Object>() : Napi::Object::New(info.Env());
}

Napi::Value Send(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int protocol;
  if (!Args(info, "netlinkSend(worker, protocol, Uint8Array, Uint32Array, { chunk?, stopOnRefusal?, tolerate?, echo?, progress? })",
            &protocol))
    return env.Undefined();
  Napi::Object o = Options(info);
  SendOptions so;
  Napi::Value chunk = o.Get("chunk");
  if (chunk.IsNumber() && chunk.As<Napi::Number>().Int64Value() > 0)
    so.chunkMessages = static_cast<size_t>(chunk.As<Napi::Number>().Int64Value());
  so.stopOnRefusal = o.Get("stopOnRefusal").ToBoolean();
  so.echo = o.Get("echo").ToBoolean();
  Napi::Value t = o.Get("tolerate");
  if (t.IsArray()) {
    Napi::Array a = t.As<Napi::Array>();
    for (uint32_t k = 0; k < a.Length(); k++) {
      Napi::Value v = a.Get(k);
      if (v.IsNumber()) so.tolerate.push_back(v.As<Napi::Number>().Int32Value());
    }
  }
  auto* job = new ProtocolSendJob(env, protocol, info[2].As<Napi::Uint8Array>(), info[3].As<Napi::Uint32Array>(), std::move(so));
  job->TrackProgress(o.Get("progress"));
  return Worker::Unwrap(info[0])->Submit(env, job);
}

Napi::Value Batch(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int protocol;
  if (!Args(info, "netlinkBatch(worker, protocol, Uint8Array, Uint32Array)", &protocol)) return env.Undefined();
  return Worker::Unwrap(info[0])->Submit(
      env, new NetlinkBatchJob(env, protocol, info[2].As<Napi::Uint8Array>(), info[3].As<Napi::Uint32Array>()));
}

Napi::Value Dump(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int protocol;
  if (!Args(info, "netlinkDump(worker, protocol, Uint8Array, Uint32Array, { attempts? })", &protocol))
    return env.Undefined();
  Napi::Value a = Options(info).Get("attempts");
  int attempts = a.IsNumber() ? a.As<Napi::Number>().Int32Value() : 5;
  return Worker::Unwrap(info[0])->Submit(
      env, new NetlinkDumpJob(env, protocol, info[2].As<Napi::Uint8Array>(), info[3].As<Napi::Uint32Array>(), attempts));
}

}  // namespace

namespace netlink {

void Register(Napi::Env env, Napi::Object exports) {
  exports.Set("netlinkSend", Napi::Function::New<Send>(env, "netlinkSend"));
  exports.Set("netlinkBatch", Napi::Function::New<Batch>(env, "netlinkBatch"));
  exports.Set("netlinkDump", Napi::Function::New<Dump>(env, "netlinkDump"));
  exports.Set("netlinkDumpStream", Napi::Function::New<NetlinkDumpStream>(env, "netlinkDumpStream"));
  RegisterSubscribe(env, exports);
}

}  // namespace netlink

}  // namespace nlkit
