// The pure parts of consumer groups: how a client's group name becomes a Kafka group id (scoped
// to the route and consumer), which names are refused, the AUTO-commit acknowledgement
// bookkeeping, and the route's `groups` settings.
#include "config/route_groups.h"
#include "config/validation.h"
#include "pubsub/group_subscriptions.h"

#include <gtest/gtest.h>

#include <set>

namespace {

using kpg::pubsub::AckLedger;
using kpg::pubsub::group_name_error;
using kpg::pubsub::kafka_group_id;

TEST(GroupId, ScopesTheNameToRouteAndConsumer) {
  EXPECT_EQ(kafka_group_id("orders", "alice", "workers"), "kpg.orders.alice.workers");
  EXPECT_EQ(kafka_group_id("orders", "", "workers"), "kpg.orders..workers");
  EXPECT_NE(kafka_group_id("orders", "alice", "workers"),
            kafka_group_id("orders", "bob", "workers"));
  EXPECT_NE(kafka_group_id("r1", "alice", "w"), kafka_group_id("r2", "alice", "w"));
}

TEST(GroupId, NoPartCanForgeAnother) {
  // Dots and percent signs are escaped: a consumer "a.b" with group "c" is not consumer "a" with
  // group "b.c", and an escape sequence typed by a client stays literal.
  std::set<std::string> ids = {kafka_group_id("r", "a.b", "c"), kafka_group_id("r", "a", "b.c"),
                               kafka_group_id("r.a", "b", "c"), kafka_group_id("r", "a", "b%2Ec"),
                               kafka_group_id("r", "a%2Eb", "c")};
  EXPECT_EQ(ids.size(), 5u);
  EXPECT_EQ(kafka_group_id("r", "a", "b.c"), "kpg.r.a.b%2Ec");
  EXPECT_EQ(kafka_group_id("r", "a", "\xc3\xa9 x"), "kpg.r.a.%C3%A9%20x");
}

TEST(GroupName, BoundedAndWithoutControlCharacters) {
  EXPECT_FALSE(group_name_error("workers"));
  EXPECT_FALSE(group_name_error("équipe 1/é"));
  EXPECT_FALSE(group_name_error(std::string(200, 'g')));
  EXPECT_EQ(*group_name_error(""), "group: must not be empty");
  EXPECT_EQ(*group_name_error(std::string(201, 'g')), "group: longer than 200 bytes");
  EXPECT_EQ(*group_name_error(std::string("a\nb")), "group: control characters are not allowed");
  EXPECT_EQ(*group_name_error(std::string("a\x7f")), "group: control characters are not allowed");
  EXPECT_TRUE(group_name_error(std::string("a\0b", 3)));
}

TEST(AckLedger, CreditsAcknowledgeTheOldestFrames) {
  AckLedger ledger;
  ledger.delivered({"t", 0}, 5);
  ledger.delivered({"t", 1}, 3);
  ledger.delivered({"t", 0}, 9);
  ledger.delivered({"u", 0}, 2);
  EXPECT_EQ(ledger.waiting(), 4u);
  // One credit back: the first frame was processed.
  auto done = ledger.acknowledge(1);
  ASSERT_EQ(done.size(), 1u);
  EXPECT_EQ((done[{"t", 0}]), 5);
  // Two more: partition 1's frame and partition 0's second one (the highest offset wins).
  done = ledger.acknowledge(2);
  ASSERT_EQ(done.size(), 2u);
  EXPECT_EQ((done[{"t", 1}]), 3);
  EXPECT_EQ((done[{"t", 0}]), 9);
  // More credit than frames waiting: all of them, and nothing afterwards.
  done = ledger.acknowledge(10);
  ASSERT_EQ(done.size(), 1u);
  EXPECT_EQ((done[{"u", 0}]), 2);
  EXPECT_TRUE(ledger.acknowledge(5).empty());
  EXPECT_EQ(ledger.waiting(), 0u);
}

std::string parse_error(const nlohmann::json& groups) {
  try {
    kpg::config::parse_groups(groups);
  } catch (const kpg::config::validation::Invalid& e) {
    return e.message;
  }
  return "";
}

TEST(GroupSettings, ParsedWithBoundsAndNamedErrors) {
  auto s = kpg::config::parse_groups(
      {{"max_per_connection", 2}, {"session_timeout_ms", 6000}, {"idle_timeout_ms", 5000}});
  EXPECT_EQ(s.max_per_connection, 2u);
  EXPECT_EQ(s.session_timeout_ms, 6000);
  EXPECT_EQ(s.idle_timeout_ms, 5000);
  EXPECT_EQ(kpg::config::parse_groups(nlohmann::json::object()), kpg::config::GroupSettings{});
  EXPECT_EQ(parse_error({{"max_per_connection", 65}}),
            "invalid configuration: property \"plugins.kafka-proxy.groups.max_per_connection\" "
            "validation failed: expected 1..64, got 65");
  EXPECT_EQ(parse_error({{"session_timeout_ms", 1.5}}),
            "invalid configuration: property \"plugins.kafka-proxy.groups.session_timeout_ms\" "
            "validation failed: wrong type: expected integer, got number");
  EXPECT_EQ(parse_error({{"idle_timeout_ms", 99}}),
            "invalid configuration: property \"plugins.kafka-proxy.groups.idle_timeout_ms\" "
            "validation failed: expected 100..240000, got 99");
  EXPECT_EQ(parse_error({{"commit", "auto"}}),
            "invalid configuration: property \"plugins.kafka-proxy.groups.commit\" is not "
            "supported by kpg");
  EXPECT_EQ(parse_error(nlohmann::json::array()),
            "invalid configuration: property \"plugins.kafka-proxy.groups\" validation failed: "
            "wrong type: expected object");
}

}  // namespace
