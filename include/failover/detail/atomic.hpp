// failover: the few atomic operations the library needs, on the compiler's builtins.
//
// <atomic> costs ~5,500 preprocessed lines on top of <chrono> in libstdc++ 12, a tenth of the
// umbrella header's budget, for a class template the core uses in a handful of places. The
// builtins are what std::atomic is made of, and ThreadSanitizer understands them the same way.
#ifndef FAILOVER_DETAIL_ATOMIC_HPP_INCLUDED
#define FAILOVER_DETAIL_ATOMIC_HPP_INCLUDED

#include <failover/detail/config.hpp>

#include <type_traits>

#if !defined(__GNUC__) && !defined(__clang__)
#  error "failover needs the __atomic builtins of GCC or Clang"
#endif

#if !defined(_WIN32)
#  include <sched.h>
#endif

namespace failover::detail {

/// Memory orders, as in std::memory_order.
enum class order : int {
    relaxed = __ATOMIC_RELAXED,
    acquire = __ATOMIC_ACQUIRE,
    release = __ATOMIC_RELEASE,
    acq_rel = __ATOMIC_ACQ_REL,
    seq_cst = __ATOMIC_SEQ_CST,
};

/// An atomic integer, bool or pointer: the subset of std::atomic the library uses.
template <class T>
class atomic {
    static_assert(std::is_integral_v<T> || std::is_pointer_v<T>, "detail::atomic holds integers, bools and pointers");

public:
    constexpr atomic() noexcept = default;
    constexpr atomic(T value) noexcept : value_(value) {}
    atomic(const atomic&) = delete;
    atomic& operator=(const atomic&) = delete;

    T load(order o = order::seq_cst) const noexcept { return __atomic_load_n(&value_, static_cast<int>(o)); }
    void store(T v, order o = order::seq_cst) noexcept { __atomic_store_n(&value_, v, static_cast<int>(o)); }
    T exchange(T v, order o = order::seq_cst) noexcept { return __atomic_exchange_n(&value_, v, static_cast<int>(o)); }
    bool compare_exchange_weak(T& expected, T desired, order success = order::seq_cst,
                               order failure = order::relaxed) noexcept {
        return __atomic_compare_exchange_n(&value_, &expected, desired, true, static_cast<int>(success),
                                           static_cast<int>(failure));
    }
    bool compare_exchange_strong(T& expected, T desired, order success = order::seq_cst,
                                 order failure = order::relaxed) noexcept {
        return __atomic_compare_exchange_n(&value_, &expected, desired, false, static_cast<int>(success),
                                           static_cast<int>(failure));
    }
    T fetch_add(T v, order o = order::seq_cst) noexcept
        requires std::is_integral_v<T> && (!std::is_same_v<T, bool>)
    {
        return __atomic_fetch_add(&value_, v, static_cast<int>(o));
    }
    T fetch_and(T v, order o = order::seq_cst) noexcept
        requires std::is_integral_v<T> && (!std::is_same_v<T, bool>)
    {
        return __atomic_fetch_and(&value_, v, static_cast<int>(o));
    }
    T fetch_sub(T v, order o = order::seq_cst) noexcept
        requires std::is_integral_v<T> && (!std::is_same_v<T, bool>)
    {
        return __atomic_fetch_sub(&value_, v, static_cast<int>(o));
    }

private:
    alignas(sizeof(T)) T value_{};
};

/// Tells the processor the thread is spinning (lets a hyper-thread sibling run).
inline void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

/// Gives the processor away to another runnable thread.
inline void yield_thread() noexcept {
#if !defined(_WIN32)
    ::sched_yield();
#endif
}

}  // namespace failover::detail

#endif  // FAILOVER_DETAIL_ATOMIC_HPP_INCLUDED
