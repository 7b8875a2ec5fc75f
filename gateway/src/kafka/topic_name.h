// Kafka's rules for topic names, checked before a name reaches librdkafka or a map key: a name
// Kafka would refuse must never become a topic handle, a reader or part of a request. (Defined
// in the config layer, which checks route settings against the same rules.)
#pragma once

#include "config/topic_name.h"

namespace kpg::kafka {

using config::is_valid_topic_name;
using config::kMaxTopicNameLength;

}  // namespace kpg::kafka
