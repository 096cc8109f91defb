// Multicast subscriptions: a socket joined to netlink groups (conntrack events, nf_tables
// changes, rtnetlink link/address/route changes), opened on the handle's worker thread (so in
// its namespace), then read by a thread of its own that hands what arrives to JavaScript in
// batches through a thread-safe function, until closed.
#pragma once
#include <napi.h>

namespace nlkit {

void RegisterSubscribe(Napi::Env env, Napi::Object exports);

}  // namespace nlkit
