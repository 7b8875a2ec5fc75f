#include <kpg/sdk/producer.h>

#include <utility>
#include <vector>

namespace kpg::sdk {

Producer::Producer(Client& client, ProducerOptions options) : client_(client), options_(options) {}

Producer::~Producer() {
  // Handlers the client still holds find alive_ gone and touch nothing here.
  auto lingering = std::move(lingering_);
  for (auto& item : lingering) {
    if (item.handler) item.handler(Error{ErrorCode::closed, "producer destroyed before sending"});
  }
}

void Producer::send(const std::string& topic, std::optional<std::string> value,
                    ProduceOptions options, ProtocolSession::ProduceHandler handler) {
  lingering_.push_back({topic, std::move(value), std::move(options), std::move(handler)});
  if (options_.linger_ms <= 0) return hand_over();
  if (linger_armed_) return;
  linger_armed_ = true;
  client_.schedule(options_.linger_ms, [this, alive = std::weak_ptr<char>(alive_)] {
    if (alive.expired()) return;
    linger_armed_ = false;
    hand_over();
  });
  if (!client_.is_open()) {
    // schedule() does nothing without a connection: fail them now rather than never.
    linger_armed_ = false;
    hand_over();
  }
}

// Everything that may go is handed over in one call, so that the client sends it in as few
// requests as the gateway allows (cmd_kafka_produce_batch).
void Producer::hand_over() {
  std::vector<Client::ProduceItem> items;
  while (!lingering_.empty() &&
         (options_.max_in_flight == 0 || in_flight_ < options_.max_in_flight)) {
    Item item = std::move(lingering_.front());
    lingering_.pop_front();
    ++handed_;
    ++in_flight_;
    items.push_back({std::move(item.topic), std::move(item.value), std::move(item.options),
                     [this, alive = std::weak_ptr<char>(alive_),
                      handler = std::move(item.handler)](Result<Produced> result) {
                       if (alive.expired()) return;
                       --handed_;
                       --in_flight_;
                       if (result) {
                         ++succeeded_;
                       } else {
                         ++failed_;
                       }
                       if (handler) handler(std::move(result));
                       answered();
                     }});
  }
  if (!items.empty()) client_.produce_many(std::move(items));
}

void Producer::answered() {
  if (!lingering_.empty() && !linger_armed_) hand_over();
  if (pending() != 0 || flushes_.empty()) return;
  auto done = std::move(flushes_);
  flushes_.clear();
  for (auto& d : done) d();
}

void Producer::flush(std::function<void()> done) {
  if (linger_armed_ || !lingering_.empty()) {
    linger_armed_ = false;  // a scheduled hand-over finds nothing left
    hand_over();
  }
  if (pending() == 0) {
    if (done) done();
    return;
  }
  if (done) flushes_.push_back(std::move(done));
}

}  // namespace kpg::sdk
