// failover: per-thread counter slots, so that the call path counts without a shared
// read-modify-write. Each live thread owns one of 64 slot indices, taken from a bitmask on its
// first use and handed back when the thread ends, so threads that come and go (a pool that is
// rebuilt, a thread per request) do not pile up on shared slots. The index is process-wide:
// every retry budget and circuit breaker puts the thread's counters at the same index.
#ifndef FAILOVER_DETAIL_THREAD_SLOT_HPP_INCLUDED
#define FAILOVER_DETAIL_THREAD_SLOT_HPP_INCLUDED

#include <failover/detail/atomic.hpp>

#include <cstddef>
#include <cstdint>

namespace failover::detail {

/// How many slots a per-thread counter array has.
inline constexpr std::size_t thread_slots = 64;

struct thread_slot_owner {
    std::size_t index = thread_slots;
    static atomic<std::uint64_t>& used() noexcept {
        static atomic<std::uint64_t> bits{0};
        return bits;
    }
    ~thread_slot_owner() {
        if (index < thread_slots) used().fetch_and(~(std::uint64_t{1} << index), order::acq_rel);
    }
};

// With more than 64 live threads, the extra ones share slots (`owned` is then false): a slot
// written by two threads can lose an increment, which callers document for themselves.
inline std::size_t take_thread_slot(bool& owned) noexcept {
    atomic<std::uint64_t>& used = thread_slot_owner::used();
    std::uint64_t seen = used.load(order::relaxed);
    while (seen != ~std::uint64_t{0}) {
        const int free = __builtin_ctzll(~seen);
        if (used.compare_exchange_weak(seen, seen | (std::uint64_t{1} << free), order::acq_rel)) {
            owned = true;
            return static_cast<std::size_t>(free);
        }
    }
    static atomic<std::size_t> overflow{0};
    owned = false;
    return overflow.fetch_add(1, order::relaxed) % thread_slots;
}

// Constant-initialised, so reading it on the call path needs no thread_local guard.
inline thread_local std::size_t thread_slot_index = thread_slots;

// A thread's first use: out of line, and noexcept, so that the call path holds no call that
// may throw (a clean-up path there made clang keep the caller's result in memory).
[[gnu::noinline, gnu::cold]] inline std::size_t first_thread_slot() noexcept {
    thread_local thread_slot_owner owner;  // gives the slot back at thread exit
    bool owned = false;
    const std::size_t index = take_thread_slot(owned);
    if (owned) owner.index = index;
    thread_slot_index = index;
    return index;
}

/// The calling thread's slot index, in [0, thread_slots).
inline std::size_t thread_slot() noexcept {
    const std::size_t index = thread_slot_index;
    if (index == thread_slots) [[unlikely]]
        return first_thread_slot();
    return index;
}

}  // namespace failover::detail

#endif  // FAILOVER_DETAIL_THREAD_SLOT_HPP_INCLUDED
