// Counts heap allocations made by this test executable (replaces the global operator new).
// Include from exactly one translation unit per test executable. Used to check that drafters do
// not allocate in propose()/observe() once warm (DESIGN.md: no allocation in the decode loop).
#pragma once
#include <atomic>
#include <cstdlib>
#include <new>

namespace speclab::testing {
inline std::atomic<long long> g_allocations{0};
}  // namespace speclab::testing

void* operator new(std::size_t n) {
  speclab::testing::g_allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(n ? n : 1)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t n) {
  speclab::testing::g_allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(n ? n : 1)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
