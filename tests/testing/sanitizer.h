// kSanitized: true in AddressSanitizer builds (-DSPECLAB_SANITIZE=ON), where code runs several
// times slower. Long statistical tests run a subset of their configurations there (the Release
// pass runs them all), so the whole suite stays within its time budget.
#pragma once

namespace speclab::testing {

#if defined(__SANITIZE_ADDRESS__)
inline constexpr bool kSanitized = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
inline constexpr bool kSanitized = true;
#else
inline constexpr bool kSanitized = false;
#endif
#else
inline constexpr bool kSanitized = false;
#endif

}  // namespace speclab::testing
