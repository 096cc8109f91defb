// The generic netlink job kinds, for every subsystem whose messages TypeScript builds
// (lib/netlink/transport.ts). `protocol` is NETLINK_ROUTE (0), NETLINK_NETFILTER (12) or
// NETLINK_GENERIC (16); each runs on the handle's worker thread over that thread's socket.
//   netlinkSend(worker, protocol, bytes, ends, { chunk?, stopOnRefusal?, tolerate?, echo?, errorsOnly?, progress? })
//       pipelined requests, one ack each: { errnos, messages, replies? }; progress: Uint32Array(1)
//       holding the requests acknowledged so far (native/core/progress.h)
//   netlinkBatch(worker, protocol, bytes, ends)
//       one nfnetlink transaction in one sendmsg(): { errors: [{ index, errno, message?, offset? }], acked, firstSeq, data }
//   netlinkDump(worker, protocol, bytes, ends, { attempts?, reportInterrupted?, follow?: { head, attr, keep } })
//       requests answered with data, restarted on NLM_F_DUMP_INTR: { data, sections, errnos, messages, interrupted, attempts };
//       follow: a follow-up request per reply of request 0 (jobs.h FollowSpec)
//   netlinkDumpStream(worker, protocol, bytes, ends, onChunk, { chunkBytes? })
//       the same, replies handed to JS in chunks while the dump runs: see stream.cc
//   netlinkSubscribe(worker, protocol, groups, { rcvbuf? }) -> fd; new NetlinkListener(fd, onData): see subscribe.cc
#include <napi.h>

#include "../core/register.h"
#include "../core/worker.h"
#include "jobs.h"
#include "subscribe.h"

namespace nlkit {

EntryPoint NetlinkDumpStream;  // stream.cc

namespace {

bool IsBatchAt(const Napi::CallbackInfo& info, size_t at) {
  return info.Length() > at + 1 && Worker::Unwrap(info[0]) != nullptr && info[at].IsTypedArray() &&
         info[at + 1].IsTypedArray() && info[at].As<Napi::TypedArray>().TypedArrayType() == napi_uint8_array &&
         info[at + 1].As<Napi::TypedArray>().TypedArrayType() == napi_uint32_array &&
         (info.Length() <= at + 2 || info[at + 2].IsUndefined() || info[at + 2].IsObject());
}

Napi::Object OptionsAt(const Napi::CallbackInfo& info, size_t at) {
  return info.Length() > at && info[at].IsObject() ? info[at].As<Napi::Object>() : Napi::Object::New(info.Env());
}

bool Fail(const Napi::CallbackInfo& info, const char* usage) {
  Napi::TypeError::New(info.Env(), usage).ThrowAsJavaScriptException();
  return false;
}

// { head: Uint8Array, attr: number, keep: number } (jobs.h FollowSpec); false: not such an object.
bool ReadFollow(Napi::Value v, FollowSpec& f) {
  if (v.IsUndefined() || v.IsNull()) return true;
  if (!v.IsObject()) return false;
  Napi::Object o = v.As<Napi::Object>();
  Napi::Value head = o.Get("head"), attr = o.Get("attr"), keep = o.Get("keep");
  if (!head.IsTypedArray() || head.As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array || !attr.IsNumber() ||
      !keep.IsNumber())
    return false;
  Napi::Uint8Array h = head.As<Napi::Uint8Array>();
  if (h.ByteLength() < NLMSG_HDRLEN) return false;
  f.head.assign(h.Data(), h.Data() + h.ByteLength());
  f.attr = static_cast<uint16_t>(attr.As<Napi::Number>().Uint32Value() & NLA_TYPE_MASK);
  f.keep = keep.As<Napi::Number>().Uint32Value();
  return true;
}

// (worker, protocol, Uint8Array, Uint32Array, options?): the protocol, or -1 with a TypeError thrown.
int ProtocolArg(const Napi::CallbackInfo& info, const char* usage) {
  int protocol = info.Length() > 1 && info[1].IsNumber() ? info[1].As<Napi::Number>().Int32Value() : -1;
  if (KnownProtocol(protocol)) return protocol;
  Fail(info, usage);
  return -1;
}

constexpr const char* kSendUsage =
    "netlinkSend(worker, protocol, Uint8Array, Uint32Array, { chunk?, stopOnRefusal?, tolerate?, echo?, errorsOnly?, progress? })";
constexpr const char* kDumpUsage = "netlinkDump(worker, protocol, Uint8Array, Uint32Array, { attempts?, reportInterrupted?, follow? })";

Napi::Value Send(const Napi::CallbackInfo& info) {
  int protocol = ProtocolArg(info, kSendUsage);
  return protocol < 0 ? info.Env().Undefined() : SubmitSend(info, protocol, 2, SendOptions{}, kSendUsage);
}

Napi::Value Batch(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const char* usage = "netlinkBatch(worker, protocol, Uint8Array, Uint32Array)";
  int protocol = ProtocolArg(info, usage);
  if (protocol < 0) return env.Undefined();
  if (!IsBatchAt(info, 2)) return Fail(info, usage), env.Undefined();
  return Worker::Unwrap(info[0])->Submit(
      env, new NetlinkBatchJob(env, protocol, info[2].As<Napi::Uint8Array>(), info[3].As<Napi::Uint32Array>()));
}

Napi::Value Dump(const Napi::CallbackInfo& info) {
  int protocol = ProtocolArg(info, kDumpUsage);
  return protocol < 0 ? info.Env().Undefined() : SubmitDump(info, protocol, 2, DumpOptions{}, kDumpUsage);
}

}  // namespace

Napi::Value SubmitSend(const Napi::CallbackInfo& info, int protocol, size_t at, SendOptions so, const char* usage) {
  Napi::Env env = info.Env();
  if (!IsBatchAt(info, at)) return Fail(info, usage), env.Undefined();
  Napi::Object o = OptionsAt(info, at + 2);
  Napi::Value chunk = o.Get("chunk");
  if (chunk.IsNumber() && chunk.As<Napi::Number>().Int64Value() > 0)
    so.chunkMessages = static_cast<size_t>(chunk.As<Napi::Number>().Int64Value());
  so.stopOnRefusal = so.stopOnRefusal || o.Get("stopOnRefusal").ToBoolean();
  so.echo = so.echo || o.Get("echo").ToBoolean();
  so.errorsOnly = so.errorsOnly || o.Get("errorsOnly").ToBoolean();
  Napi::Value t = o.Get("tolerate");
  if (t.IsArray()) {
    Napi::Array a = t.As<Napi::Array>();
    for (uint32_t k = 0; k < a.Length(); k++) {
      Napi::Value v = a.Get(k);
      if (v.IsNumber()) so.tolerate.push_back(v.As<Napi::Number>().Int32Value());
    }
  }
  auto* job = new NetlinkSendJob(env, protocol, info[at].As<Napi::Uint8Array>(), info[at + 1].As<Napi::Uint32Array>(), std::move(so));
  job->TrackProgress(o.Get("progress"));
  return Worker::Unwrap(info[0])->Submit(env, job);
}

Napi::Value SubmitDump(const Napi::CallbackInfo& info, int protocol, size_t at, DumpOptions d, const char* usage) {
  Napi::Env env = info.Env();
  if (!IsBatchAt(info, at)) return Fail(info, usage), env.Undefined();
  Napi::Object o = OptionsAt(info, at + 2);
  Napi::Value a = o.Get("attempts");
  if (a.IsNumber()) d.attempts = a.As<Napi::Number>().Int32Value();
  d.reportInterrupted = d.reportInterrupted || o.Get("reportInterrupted").ToBoolean();
  if (!ReadFollow(o.Get("follow"), d.follow)) return Fail(info, usage), env.Undefined();
  return Worker::Unwrap(info[0])->Submit(
      env, new NetlinkDumpJob(env, protocol, info[at].As<Napi::Uint8Array>(), info[at + 1].As<Napi::Uint32Array>(), std::move(d)));
}

namespace netlink {

void Register(Napi::Env env, Napi::Object exports) {
  ExportAll(env, exports, {
      Bind<Send>("netlinkSend"), Bind<Batch>("netlinkBatch"), Bind<Dump>("netlinkDump"),
      Bind<NetlinkDumpStream>("netlinkDumpStream"),
  });
  RegisterSubscribe(env, exports);
}

}  // namespace netlink

}  // namespace nlkit
