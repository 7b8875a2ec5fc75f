// The metrics' pure parts: labels of commands and refusals, the error-reply check, the lag series
// (largest over subscriptions, gone with the last one) and the status endpoints' answers.
#include "server/metrics.h"
#include "admin/status_endpoints.h"
#include "config/gateway_config.h"
#include "prometheus_text.h"
#include "pubsub/observer.h"

#include <kpg/pubsub.pb.h>

#include <gtest/gtest.h>

namespace {

using kpg::pubsub::Command;
using kpg::pubsub::PubSubReq;
using kpg::pubsub::PubSubResp;
using kpg::testing::sample;

TEST(MetricsLabels, CommandsAreNamedFromTheRequestCase) {
  EXPECT_STREQ(command_name(kpg::pubsub::command_of_case(PubSubReq::kCmdKafkaFetch)), "fetch");
  EXPECT_STREQ(command_name(kpg::pubsub::command_of_case(PubSubReq::kCmdUnsubscribe)),
               "unsubscribe");
  EXPECT_STREQ(command_name(kpg::pubsub::command_of_case(PubSubReq::kCmdEmpty)), "unknown");
  EXPECT_STREQ(command_name(Command::invalid), "invalid");
}

TEST(MetricsLabels, RefusalReasonsFollowTheStatus) {
  EXPECT_STREQ(kpg::server::refusal_reason(400), "bad_request");
  EXPECT_STREQ(kpg::server::refusal_reason(401), "unauthorized");
  EXPECT_STREQ(kpg::server::refusal_reason(403), "forbidden");
  EXPECT_STREQ(kpg::server::refusal_reason(404), "not_found");
  EXPECT_STREQ(kpg::server::refusal_reason(429), "limit");
  EXPECT_STREQ(kpg::server::refusal_reason(503), "limit");
  EXPECT_STREQ(kpg::server::refusal_reason(418), "other");
}

TEST(MetricsErrorReply, ReadsTheResponseCaseOnly) {
  PubSubResp error;
  error.set_sequence(7);
  error.mutable_error_resp()->set_message("no");
  EXPECT_TRUE(kpg::pubsub::is_error_reply(error.SerializeAsString()));
  PubSubResp unsequenced;  // sequence 0 is not serialized: the case comes first
  unsequenced.mutable_error_resp()->set_message("no");
  EXPECT_TRUE(kpg::pubsub::is_error_reply(unsequenced.SerializeAsString()));
  PubSubResp fetch;
  fetch.set_sequence(8);
  fetch.mutable_kafka_fetch_resp()->add_messages()->set_value(std::string(1000, 'v'));
  EXPECT_FALSE(kpg::pubsub::is_error_reply(fetch.SerializeAsString()));
  EXPECT_FALSE(kpg::pubsub::is_error_reply(""));
  EXPECT_FALSE(kpg::pubsub::is_error_reply("\xff\xff\xff"));
}

TEST(MetricsLag, IsTheLargestOverSubscriptionsAndGoesWithTheLast) {
  kpg::server::Metrics metrics("test");
  auto route = metrics.route("r");
  EXPECT_EQ(route, metrics.route("r")) << "one set of series per route";
  const int a = 0, b = 0;
  const kpg::testing::Labels p0{{"route", "r"}, {"topic", "t"}, {"partition", "0"}};
  route->lag(&a, "t", 0, 5);
  route->lag(&b, "t", 0, 9);
  EXPECT_EQ(sample(metrics.text(), "kpg_consumer_lag_records", p0), 9);
  route->lag(&b, "t", 0, 2);
  EXPECT_EQ(sample(metrics.text(), "kpg_consumer_lag_records", p0), 5);
  route->subscription_ended(&a);
  EXPECT_EQ(sample(metrics.text(), "kpg_consumer_lag_records", p0), 2);
  route->subscription_ended(&b);
  EXPECT_EQ(sample(metrics.text(), "kpg_consumer_lag_records", p0), std::nullopt);
}

TEST(MetricsCounters, CommandsDeliveriesAndKafkaRequestsAreCounted) {
  kpg::server::Metrics metrics("test");
  auto route = metrics.route("r");
  route->command(Command::fetch, true);
  route->command(Command::fetch, false);
  route->command(Command::fetch, false);
  route->delivered(3, 120, false);
  route->delivered(2, 80, true);
  metrics.handshake_refused("forbidden");
  metrics.handshake_refused("anything else");
  metrics.request_done(kpg::kafka::Request::watermarks, std::chrono::milliseconds(3),
                       kpg::kafka::ErrorKind::unreachable);
  const auto text = metrics.text();
  EXPECT_EQ(sample(text, "kpg_commands_total",
                   {{"route", "r"}, {"command", "fetch"}, {"outcome", "error"}}),
            2);
  EXPECT_EQ(sample(text, "kpg_records_delivered_total", {{"route", "r"}, {"mode", "fetch"}}), 3);
  EXPECT_EQ(sample(text, "kpg_delivered_bytes_total", {{"route", "r"}, {"mode", "push"}}), 80);
  EXPECT_EQ(sample(text, "kpg_push_deliveries_total", {{"route", "r"}}), 1);
  EXPECT_EQ(sample(text, "kpg_handshakes_refused_total", {{"reason", "forbidden"}}), 1);
  EXPECT_EQ(sample(text, "kpg_handshakes_refused_total", {{"reason", "other"}}), 1);
  EXPECT_EQ(sample(text, "kpg_kafka_request_duration_seconds_count", {{"request", "watermarks"}}),
            1);
  EXPECT_EQ(sample(text, "kpg_kafka_errors_total", {{"kind", "unreachable"}}), 1);
  EXPECT_EQ(sample(text, "kpg_build_info", {{"version", "test"}}), 1);
}

TEST(StatusEndpoints, AnswerTheThreePathsOnly) {
  kpg::server::Metrics metrics("test");
  using kpg::admin::status_response;
  EXPECT_FALSE(status_response("GET", "/apisix/admin/routes", metrics));
  EXPECT_FALSE(status_response("GET", "/metricsx", metrics));
  EXPECT_EQ(status_response("GET", "/healthz", metrics)->body, "ok\n");
  EXPECT_EQ(status_response("DELETE", "/healthz", metrics)->status, 405);
  EXPECT_EQ(status_response("GET", "/metrics?x=1", metrics)->status, 200);

  auto not_ready = status_response("GET", "/readyz", metrics);
  EXPECT_EQ(not_ready->status, 503);
  EXPECT_NE(not_ready->body.find("config: not loaded yet"), std::string::npos);
  EXPECT_NE(not_ready->body.find("listeners:"), std::string::npos);
  metrics.readiness.config_loaded = true;
  metrics.readiness.listening = true;
  EXPECT_EQ(status_response("GET", "/readyz", metrics)->status, 200);
  metrics.readiness.draining = true;
  const auto draining = status_response("GET", "/readyz", metrics);
  EXPECT_EQ(draining->status, 503);
  EXPECT_EQ(draining->body, "not ready\ndraining: the gateway is shutting down\n");
}

TEST(StatusListen, IsOptionalAndMustBeHostPort) {
  kpg::config::GatewayConfig config;
  EXPECT_NO_THROW(kpg::config::validate(config)) << "empty: no status listener";
  config.status_listen = "127.0.0.1:9091";
  EXPECT_NO_THROW(kpg::config::validate(config));
  config.status_listen = "9091";
  try {
    kpg::config::validate(config);
    ADD_FAILURE() << "accepted a status_listen without a host";
  } catch (const kpg::config::ConfigError& e) {
    EXPECT_STREQ(e.what(), "--status-listen: '9091' is not HOST:PORT");
  }
}

}  // namespace
