// failover: a small lock for failure paths, without <mutex> (0.4 s of parsing per translation
// unit). It spins briefly, then yields the processor, so a preempted holder on a busy machine
// costs the waiters time slices, not a livelock. Only ever held for a few hundred nanoseconds.
#ifndef FAILOVER_DETAIL_LOCK_HPP_INCLUDED
#define FAILOVER_DETAIL_LOCK_HPP_INCLUDED

#include <failover/detail/atomic.hpp>
#include <failover/detail/config.hpp>

namespace failover::detail {

class small_lock {
public:
    void lock() noexcept {
        for (unsigned spins = 0; locked_.exchange(true, order::acquire); ++spins) {
            while (locked_.load(order::relaxed)) {
                if (++spins < 64)
                    cpu_relax();
                else
                    yield_thread();
            }
        }
    }
    void unlock() noexcept { locked_.store(false, order::release); }

private:
    atomic<bool> locked_{false};
};

/// Holds a small_lock for its scope.
class lock_guard {
public:
    explicit lock_guard(small_lock& l) noexcept : lock_(l) { lock_.lock(); }
    ~lock_guard() { lock_.unlock(); }
    lock_guard(const lock_guard&) = delete;
    lock_guard& operator=(const lock_guard&) = delete;

private:
    small_lock& lock_;
};

}  // namespace failover::detail

#endif  // FAILOVER_DETAIL_LOCK_HPP_INCLUDED
