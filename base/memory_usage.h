// The process's memory use, for reports (generate's memory line, benchmarks).
#pragma once
#include <cstdint>

namespace speclab {

// Peak resident set size of this process so far in bytes (getrusage ru_maxrss; file-backed
// pages of memory-mapped weights count once touched). 0 where the OS does not report it.
std::int64_t peak_rss_bytes();

}  // namespace speclab
