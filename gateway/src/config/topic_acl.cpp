#include "config/topic_acl.h"

#include "config/topic_name.h"

#include <algorithm>

namespace kpg::config {

namespace {

// True when `topic` matches the valid entry `entry` (a name or a prefix pattern).
bool matches(std::string_view entry, std::string_view topic) {
  if (entry.back() != '*') return entry == topic;
  return topic.substr(0, entry.size() - 1) == entry.substr(0, entry.size() - 1);
}

// True when an entry found in a claim (untrusted shape: any JSON) allows `topic`.
bool claim_entry_allows(const nlohmann::json& entry, std::string_view topic) {
  if (!entry.is_string()) return false;
  const auto& text = entry.get_ref<const std::string&>();
  return TopicAcl::is_valid_entry(text) && matches(text, topic);
}

}  // namespace

bool TopicAcl::is_valid_entry(std::string_view entry) {
  if (entry == "*") return true;
  if (!entry.empty() && entry.back() == '*') {
    const std::string_view prefix = entry.substr(0, entry.size() - 1);
    // Any beginning of a valid name: "." and ".." are fine ones (".x" is a valid topic).
    return !prefix.empty() && prefix.size() <= kMaxTopicNameLength &&
           has_only_topic_characters(prefix);
  }
  return is_valid_topic_name(entry);
}

bool TopicAcl::is_valid_claim_name(std::string_view name) {
  return !name.empty() && name.size() <= kMaxClaimNameLength &&
         std::all_of(name.begin(), name.end(), [](char c) { return c >= 0x20 && c < 0x7f; });
}

bool TopicAcl::add(std::string_view entry) {
  if (!is_valid_entry(entry)) return false;
  if (entry == "*") {
    all_ = true;
  } else if (entry.back() == '*') {
    prefixes_.emplace_back(entry.substr(0, entry.size() - 1));
  } else {
    const auto at = std::lower_bound(exact_.begin(), exact_.end(), entry);
    if (at == exact_.end() || *at != entry) exact_.emplace(at, entry);
  }
  return true;
}

bool TopicAcl::add_claim(std::string_view claim) {
  if (!is_valid_claim_name(claim)) return false;
  if (std::find(claims_.begin(), claims_.end(), claim) == claims_.end()) {
    claims_.emplace_back(claim);
  }
  return true;
}

std::size_t TopicAcl::size() const noexcept {
  return (all_ ? 1 : 0) + exact_.size() + prefixes_.size() + claims_.size();
}

bool TopicAcl::allowed(std::string_view topic, const nlohmann::json* claims) const {
  if (all_ || std::binary_search(exact_.begin(), exact_.end(), topic)) return true;
  for (const auto& prefix : prefixes_) {
    if (topic.substr(0, prefix.size()) == prefix) return true;
  }
  if (claims == nullptr || !claims->is_object()) return false;
  for (const auto& name : claims_) {
    const auto it = claims->find(name);
    if (it == claims->end()) continue;
    if (it->is_array()) {
      // A claim is signed by a trusted issuer, but its size is still bounded here.
      const std::size_t n = std::min(it->size(), kMaxEntries);
      for (std::size_t i = 0; i < n; ++i) {
        if (claim_entry_allows((*it)[i], topic)) return true;
      }
    } else if (claim_entry_allows(*it, topic)) {
      return true;
    }
  }
  return false;
}

}  // namespace kpg::config
