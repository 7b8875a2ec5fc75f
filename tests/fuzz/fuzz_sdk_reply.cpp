// The SDK's receive path on anything a server can send: a Client over an in-memory transport,
// with two subscriptions and a few plain calls under way, fed a script of events read from the
// input. Each event is one op byte, then for frames a 2-byte little-endian length and the frame:
//   op % 6 == 0  deliver the frame as is
//   op % 6 == 1  deliver the frame with its sequence set to that of a request the client sent
//                (protobuf keeps the last value of a repeated scalar field, so appending field 1
//                pairs any well-formed frame); op / 8 picks the request, counting from the newest
//   op % 6 == 2  advance the clock by (op / 8) * 37 ms (request timeouts, idle waits, reconnect)
//   op % 6 == 3  the connection drops (or the opening fails)
//   op % 6 == 4  the connection opens (when the client is opening one) and hello is answered,
//                as APISIX does when op / 8 is even, else as a kpg gateway (push mode)
//   op % 6 == 5  a user call: ping, list_offsets, fetch, subscribe, pause/resume or cancel
// Checked: nothing throws (an exception escaping here aborts), every call's handler runs exactly
// once by the time the client is destroyed, a subscription's error handler at most once, and a
// subscription delivers non-empty batches of strictly increasing offsets.
#include "fake_transport.h"
#include "fuzz_check.h"
#include "fuzz_script.h"

#include <kpg/pubsub.pb.h>
#include <kpg/sdk/client.h>

#include <google/protobuf/stubs/logging.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace {

using kpg::fuzz::check;
using namespace kpg::sdk;

// Field 1 (sequence) as a varint, appended to override whatever sequence the frame holds.
std::string sequence_field(std::int64_t sequence) {
  std::string out = "\x08";
  auto value = static_cast<std::uint64_t>(sequence);
  do {
    const auto low = static_cast<std::uint8_t>(value & 0x7f);
    value >>= 7;
    out += static_cast<char>(value ? (low | 0x80) : low);
  } while (value);
  return out;
}

struct Calls {
  int issued = 0;
  int completed = 0;
};

struct Watched {
  std::shared_ptr<Subscription> subscription;
  std::int64_t last_offset = 0;
  bool delivered = false;
  int errors = 0;
};

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  google::protobuf::SetLogHandler(nullptr);  // invalid UTF-8 in strings is expected input
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  kpg::fuzz::Script in(data, size);
  kpg::testing::FakeTransport::State link;
  Calls calls;
  std::vector<std::unique_ptr<Watched>> watched;
  {
    Client client(std::make_unique<kpg::testing::FakeTransport>(link),
                  kpg::testing::options(1'000, 500, 50));
    int opens_seen = 0;
    bool open = false;  // between on_open and the end of that connection

    auto counted = [&calls](auto&& result) {
      ++calls.completed;
      (void)result.ok();
    };
    auto call = [&](unsigned which) {
      ++calls.issued;
      switch (which % 3) {
        case 0: client.ping("state", counted); break;
        case 1: client.list_offsets("t", 0, kEarliest, counted); break;
        default: client.fetch("t", 0, 3, counted); break;
      }
    };
    auto subscribe = [&](std::int32_t partition, StartAt from) {
      auto w = std::make_unique<Watched>();
      Watched* self = w.get();
      SubscriptionHandlers handlers;
      handlers.on_records = [self](const std::vector<Record>& batch) {
        check(!batch.empty(), "an empty batch was delivered");
        for (const auto& record : batch) {
          check(!self->delivered || record.offset > self->last_offset,
                "a subscription delivered a duplicate or went back");
          self->last_offset = record.offset;
          self->delivered = true;
        }
      };
      handlers.on_error = [self](const Error&) { ++self->errors; };
      w->subscription = client.subscribe("t", partition, from, std::move(handlers));
      watched.push_back(std::move(w));
    };

    ++calls.issued;
    client.connect("ws://gateway.test/kafka", counted);
    while (!in.done()) {
      if (link.opens != opens_seen) {
        opens_seen = link.opens;
        open = false;
      }
      const std::uint8_t op = in.byte();
      const bool linked = link.handlers.on_open && !link.closed;
      switch (op % 6) {
        case 0: {
          const std::string frame(in.frame());
          if (open && linked) link.handlers.on_binary(frame);
          break;
        }
        case 1: {
          std::string frame(in.frame());
          if (!open || !linked || link.sent.empty()) break;
          const std::size_t back = (op / 8u) % link.sent.size();
          kpg::pubsub::PubSubReq request;
          check(request.ParseFromString(link.sent[link.sent.size() - 1 - back]),
                "the client sent an undecodable request");
          frame += sequence_field(request.sequence());
          link.handlers.on_binary(frame);
          break;
        }
        case 2: kpg::testing::advance(link, (op / 8) * 37); break;
        case 3:
          if (linked) {
            open = false;
            auto on_close = link.handlers.on_close;
            link.closed = true;  // the transport reports the end once
            on_close(Error{ErrorCode::transport, "connection reset"});
          }
          break;
        case 4:
          if (linked && !open) {
            open = true;
            link.handlers.on_open();
            // The gateway answers hello as APISIX or as a kpg gateway offering push.
            kpg::testing::answer_hello(link, (op / 8u) % 2 == 1);
            if (watched.empty()) {
              subscribe(0, StartAt::earliest());
              subscribe(1, StartAt::offset(5));
            }
          }
          break;
        default: {
          const unsigned what = op / 8u;
          switch (what % 6) {
            case 0:
            case 1:
            case 2: call(what / 6); break;
            case 3:
              subscribe(static_cast<std::int32_t>(what / 6),
                        what % 2 ? StartAt::latest() : StartAt::timestamp(1'000));
              break;
            case 4:
              if (!watched.empty()) {
                auto& s = *watched[(what / 6) % watched.size()]->subscription;
                s.paused() ? s.resume() : s.pause();
              }
              break;
            default:
              if (!watched.empty()) watched[(what / 6) % watched.size()]->subscription->cancel();
          }
        }
      }
    }
  }  // the client's destructor fails whatever is still pending
  check(calls.completed == calls.issued, "a call's handler did not run exactly once");
  for (const auto& w : watched) check(w->errors <= 1, "a subscription failed more than once");
  return 0;
}
