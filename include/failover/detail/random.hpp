// failover: a small, fast, thread-local pseudo-random generator for jitter.
//
// <random> is avoided on purpose: it costs ~0.5 s of parsing per translation unit, and the
// obvious way to seed it, std::random_device, costs ~27 us per construction here (a peer builds
// one per call). Jitter needs spread, not cryptographic quality: splitmix64 seeds a xoshiro256**
// state once per thread, and each draw is a handful of shifts and multiplies.
#ifndef FAILOVER_DETAIL_RANDOM_HPP_INCLUDED
#define FAILOVER_DETAIL_RANDOM_HPP_INCLUDED

#include <failover/detail/atomic.hpp>
#include <failover/detail/config.hpp>

#include <chrono>
#include <cstdint>

namespace failover::detail {

constexpr std::uint64_t splitmix64(std::uint64_t& x) noexcept {
    std::uint64_t z = (x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/// xoshiro256** (Blackman & Vigna): 256 bits of state, period 2^256 - 1.
class xoshiro256 {
public:
    constexpr explicit xoshiro256(std::uint64_t seed) noexcept { reseed(seed); }

    constexpr void reseed(std::uint64_t seed) noexcept {
        for (std::uint64_t& word : s_) word = splitmix64(seed);
    }

    constexpr std::uint64_t next() noexcept {
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

    /// Uniform in [0, 1), 53 bits of precision.
    constexpr double uniform01() noexcept { return static_cast<double>(next() >> 11) * 0x1.0p-53; }

private:
    static constexpr std::uint64_t rotl(std::uint64_t x, int k) noexcept { return (x << k) | (x >> (64 - k)); }

    std::uint64_t s_[4]{};
};

inline atomic<std::uint64_t> rng_streams{0};

// Distinct per thread and per process start: a counter (distinct threads), the state's own
// address (distinct processes under ASLR) and the clock.
inline std::uint64_t fresh_seed(const void* where) noexcept {
    std::uint64_t seed = rng_streams.fetch_add(1, order::relaxed) * 0x9E3779B97F4A7C15ull;
    seed ^= reinterpret_cast<std::uintptr_t>(where);
    seed ^= static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
    return seed;
}

/// The calling thread's generator, seeded on first use.
inline xoshiro256& thread_rng() noexcept {
    thread_local xoshiro256 rng{0};
    thread_local bool seeded = false;
    if (!seeded) [[unlikely]] {
        rng.reseed(fresh_seed(&rng));
        seeded = true;
    }
    return rng;
}

}  // namespace failover::detail

namespace failover {

/// Reseeds the calling thread's jitter generator, for reproducible schedules in tests.
inline void seed_jitter(std::uint64_t seed) noexcept {
    detail::thread_rng().reseed(seed);
}

}  // namespace failover

#endif  // FAILOVER_DETAIL_RANDOM_HPP_INCLUDED
