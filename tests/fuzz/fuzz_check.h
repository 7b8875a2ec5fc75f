// Shared by the libFuzzer targets: invariant checks that stop the run with a message (libFuzzer
// saves the input as a crash), and quiet logging so the fuzzers spend their time fuzzing.
#pragma once

#include <cstdio>
#include <cstdlib>

namespace kpg::fuzz {

/// A broken invariant is a finding like a sanitizer report: print it and abort.
inline void check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "fuzz invariant broken: %s\n", what);
    std::abort();
  }
}

}  // namespace kpg::fuzz
