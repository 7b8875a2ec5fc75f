// The consumer-group service over librdkafka's high-level consumer (group_consumer.cpp).
#pragma once

#include "kafka/group_consumer.h"

#include <chrono>
#include <cstddef>
#include <memory>

namespace kpg::kafka {

/// Runs at most `max_members` members at once. Destroying the service waits until every member
/// it started has left its group. `request_timeout` bounds the blocking look-ups of a member's
/// thread (committed offsets, log ends).
std::unique_ptr<GroupService> make_rdkafka_group_service(std::size_t max_members,
                                                         std::chrono::milliseconds request_timeout);

}  // namespace kpg::kafka
