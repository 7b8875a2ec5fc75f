// The admin API's route path on untrusted request bodies: AdminApi::handle over a RouteManager
// with no store file and a fake Kafka source factory. The first input byte picks the method and
// route id, the rest is the body. After the request, the route is read back, listed, replaced
// with the same body and deleted, so stored objects (masked or not) are re-serialized too.
// Checked: handle never throws (an exception escaping here aborts), every response body is JSON,
// and statuses are ones the API documents.
#include "admin/admin_api.h"
#include "fake_sources.h"
#include "fuzz_check.h"

#include <spdlog/spdlog.h>

#include <nlohmann/json.hpp>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace {

using kpg::fuzz::check;
namespace kafka = kpg::kafka;

struct NoKafka : kpg::testing::PullOnlySource {
  void list_offset(std::string, std::int32_t, std::int64_t, kpg::kafka::CancelToken,
                   std::function<void(kafka::OffsetResult)> done) override {
    done({kafka::KafkaError{kafka::ErrorKind::unreachable, "no broker"}, -1});
  }
  void fetch(std::string, std::int32_t, std::int64_t, kafka::FetchLimits, kpg::kafka::CancelToken,
             std::function<void(kafka::FetchResult)> done) override {
    done({kafka::KafkaError{kafka::ErrorKind::unreachable, "no broker"}, {}});
  }
};

constexpr const char* kKey = "fuzz-admin-key-0123456789";

kpg::admin::AdminResponse send(const kpg::admin::AdminApi& api, std::string method,
                               std::string target, std::string body) {
  auto response = api.handle({std::move(method), std::move(target), kKey, std::move(body)});
  check(response.status == 200 || response.status == 201 || response.status == 400 ||
            response.status == 404 || response.status == 405 || response.status == 500,
        "an undocumented status");
  check(nlohmann::json::accept(response.body), "a response body that is not JSON");
  return response;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  spdlog::set_level(spdlog::level::off);  // every stored route would be logged
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::uint8_t selector = data[0];
  const std::string body(reinterpret_cast<const char*>(data) + 1, size - 1);

  kpg::server::RouteTableHolder holder;
  // Routes whose first broker port is odd get a source; the others fail to get one, as a route
  // would whose Kafka client cannot be created.
  auto factory = [](const kpg::config::Route& route,
                    std::string* error) -> std::shared_ptr<kafka::RecordSource> {
    if (!route.nodes.empty() && route.nodes.front().port % 2 == 0) {
      *error = "cannot create the Kafka client";
      return nullptr;
    }
    return std::make_shared<NoKafka>();
  };
  kpg::server::RouteManager routes(holder, factory, /*store_path=*/"", nullptr);
  routes.load({});
  kpg::server::ConsumerSnapshot consumer_set;
  kpg::server::ConsumerManager consumers(consumer_set, /*store_path=*/"");
  consumers.load();
  const kpg::admin::AdminApi api(routes, consumers, kKey);

  static const char* const kIds[] = {"1", "kafka", "a.b-c_d", "x"};
  const std::string id = kIds[(selector >> 2) % 4];
  const std::string one = "/apisix/admin/routes/" + id;
  switch (selector % 4) {
    case 0: send(api, "PUT", one, body); break;
    case 1: send(api, "POST", "/apisix/admin/routes", body); break;
    case 2:  // the body as the route id (path and query): ids are untrusted too
      send(api, "GET", "/apisix/admin/routes/" + body, "");
      send(api, "DELETE", "/apisix/admin/routes/" + body, "");
      break;
    default:
      send(api, "PUT", one, "{\"uri\":\"/a\",\"upstream\":{\"nodes\":{\"127.0.0.1:9\":1}}}");
      send(api, "PUT", "/apisix/admin/routes/other", body);
      break;
  }
  send(api, "GET", one, "");
  send(api, "GET", "/apisix/admin/routes", "");
  send(api, "PUT", one, body);
  send(api, "DELETE", one, "");
  // Consumers take untrusted bodies and names as well (their secrets must never be echoed).
  send(api, "PUT", "/apisix/admin/consumers/" + id, body);
  send(api, "PUT", "/apisix/admin/consumers", body);
  send(api, "GET", "/apisix/admin/consumers", "");
  send(api, "DELETE", "/apisix/admin/consumers/" + id, "");
  return 0;
}
