// Seeded random numbers, passed explicitly (no global state). xoshiro256** seeded through
// splitmix64: the same seed gives the same stream on every platform and compiler, unlike the
// std:: distributions, so experiments are reproducible bit for bit.
#pragma once
#include <cmath>
#include <cstdint>

namespace speclab {

class Rng {
 public:
  // A scripted source of uniform() values: the hook of the exact-law tests
  // (tests/testing/exact_law.h), which enumerate every random event of an acceptance rule by
  // running the shipped rule code on chosen uniforms. Library code never sets one.
  class UniformScript {
   public:
    virtual double next() = 0;  // the next value uniform() returns, in [0, 1)

   protected:
    ~UniformScript() = default;
  };

  explicit Rng(std::uint64_t seed = 0) { reseed(seed); }

  void reseed(std::uint64_t seed) {
    std::uint64_t x = seed;
    for (auto& s : s_) s = splitmix64(x);
  }

  std::uint64_t next_u64() {
    const std::uint64_t result = rotl(s_[1] * 5, 7) * 9;
    const std::uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = rotl(s_[3], 45);
    return result;
  }

  // Uniform in [0, 1) with 53 random bits (or the script's next value while one is set).
  double uniform() {
    if (script_ != nullptr) [[unlikely]] return script_->next();
    return static_cast<double>(next_u64() >> 11) * 0x1.0p-53;
  }

  // Test hook (see UniformScript): while `script` is non-null, uniform() (and what is built on
  // it: below(), sample_from, the rules' acceptance tests) returns script->next() and the
  // generator does not advance. uniform_open() and gumbel() are never scripted.
  void set_script(UniformScript* script) { script_ = script; }

  // Uniform in (0, 1): safe for log().
  double uniform_open() { return (static_cast<double>(next_u64() >> 11) + 0.5) * 0x1.0p-53; }

  // Standard Gumbel(0, 1) variate.
  double gumbel() { return -std::log(-std::log(uniform_open())); }

  // Standard normal (Box-Muller; one value per call, deterministic).
  double normal() {
    const double u1 = uniform_open(), u2 = uniform();
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
  }

  // Uniform integer in [0, n), n > 0.
  std::uint64_t below(std::uint64_t n) { return static_cast<std::uint64_t>(uniform() * n) % n; }

  // A child generator whose stream is independent of this one's future draws.
  Rng split() { return Rng(next_u64() ^ 0x9E3779B97F4A7C15ull); }

 private:
  static std::uint64_t rotl(std::uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  static std::uint64_t splitmix64(std::uint64_t& x) {
    std::uint64_t z = (x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  std::uint64_t s_[4];
  UniformScript* script_ = nullptr;
};

}  // namespace speclab
