// failover: test support. Virtual time and a scripted transport, so that policies are tested
// (by the library and by its users) deterministically and without sleeping for real.
// Not included by failover/failover.hpp.
#ifndef FAILOVER_TESTING_HPP_INCLUDED
#define FAILOVER_TESTING_HPP_INCLUDED

#include <failover/detail/config.hpp>
#include <failover/pipeline.hpp>
#include <failover/time.hpp>

#include <atomic>
#include <cstddef>
#include <exception>
#include <initializer_list>
#include <mutex>
#include <optional>
#include <utility>
#include <vector>

namespace failover::testing {

/// Virtual time: `now()` moves only when told to, and `sleep_for(d)` advances it by `d` at
/// once and records the sleep. Thread-safe; when several threads sleep on one clock, their
/// sleeps add up (virtual time is one shared line, not one per thread).
class manual_clock {
public:
    /// Starts one hour after the clock's epoch, so that `now() - d` stays meaningful.
    manual_clock() noexcept : manual_clock(time_point{} + std::chrono::hours(1)) {}
    explicit manual_clock(time_point start) noexcept : now_(start.time_since_epoch().count()) {}
    manual_clock(const manual_clock&) = delete;
    manual_clock& operator=(const manual_clock&) = delete;

    time_point now() const noexcept { return time_point{duration{now_.load(std::memory_order_acquire)}}; }

    /// Advances virtual time by `d` (nothing for d <= 0) and records one sleep of `d`.
    void sleep_for(duration d) {
        if (d < duration::zero()) d = duration::zero();
        {
            std::lock_guard<std::mutex> lock(log_mutex_);
            log_.push_back(d);
        }
        advance(d);
    }

    /// Moves virtual time forward by `d` without counting a sleep (latency, elapsed time).
    void advance(duration d) noexcept {
        if (d <= duration::zero()) return;
        duration::rep cur = now_.load(std::memory_order_relaxed);
        while (!now_.compare_exchange_weak(cur, detail::add_sat(duration{cur}, d).count(), std::memory_order_acq_rel)) {
        }
    }

    /// Number of sleeps so far.
    std::size_t sleeps() const {
        std::lock_guard<std::mutex> lock(log_mutex_);
        return log_.size();
    }
    /// Every sleep so far, in order.
    std::vector<duration> sleep_log() const {
        std::lock_guard<std::mutex> lock(log_mutex_);
        return log_;
    }
    /// Total time slept.
    duration slept() const {
        std::lock_guard<std::mutex> lock(log_mutex_);
        duration total{0};
        for (duration d : log_) total = detail::add_sat(total, d);
        return total;
    }

private:
    std::atomic<duration::rep> now_;
    mutable std::mutex log_mutex_;
    std::vector<duration> log_;
};

/// What a scripted transport does when its script is used up.
enum class when_done {
    repeat_last,  ///< keep playing the last step (the default)
    cycle,        ///< start again from the first step
};

/// One step of a script: a value to return (or an exception to throw) after a latency.
template <class R>
struct step {
    std::optional<R> value{};
    std::exception_ptr error{};
    /// Virtual time the attempt takes: the clock advances by it before the step returns.
    duration latency{0};
};

/// Returns `value` after `latency`.
template <class R>
step<R> returns(R value, duration latency = duration::zero()) {
    return step<R>{.value = static_cast<R&&>(value), .error = {}, .latency = latency};
}

#if FAILOVER_HAS_EXCEPTIONS
/// Throws `error` after `latency` (a step of a script whose values are R).
template <class R, class E>
step<R> throws(E error, duration latency = duration::zero()) {
    return step<R>{.value = std::nullopt, .error = std::make_exception_ptr(static_cast<E&&>(error)), .latency = latency};
}
#endif

/// What a scripted transport saw of one attempt.
struct call_record {
    unsigned attempt_number = 0;
    time_point started{};     ///< virtual time when the attempt reached the transport
    duration time_left{};     ///< attempt::time_left() as the transport saw it
    bool had_region = false;
    std::size_t region_index = 0;
    bool failover = false;
};

/// A transport that plays a script of outcomes and latencies on a manual clock and records
/// every attempt it is given. Thread-safe: concurrent callers take the steps in turn.
template <class R>
class scripted_transport {
public:
    scripted_transport(manual_clock& clock, std::vector<step<R>> script, when_done done = when_done::repeat_last)
        : clock_(&clock), script_(static_cast<std::vector<step<R>>&&>(script)), done_(done) {
        if (script_.empty()) detail::throw_config_error("scripted_transport: the script must have at least one step");
        for (const step<R>& s : script_)
            if (!s.value && !s.error)
                detail::throw_config_error("scripted_transport: every step must return a value or throw an exception");
    }
    scripted_transport(manual_clock& clock, std::initializer_list<step<R>> script, when_done done = when_done::repeat_last)
        : scripted_transport(clock, std::vector<step<R>>(script), done) {}

    /// Plays the next step for attempt `a`.
    R operator()(const attempt& a) {
        const step<R>* s = nullptr;
        {
            std::lock_guard<std::mutex> lock(mutex_);
            std::size_t i = next_++;
            if (i >= script_.size())
                i = done_ == when_done::cycle ? i % script_.size() : script_.size() - 1;
            s = &script_[i];
            calls_.push_back(call_record{.attempt_number = a.number(),
                                         .started = clock_->now(),
                                         .time_left = a.time_left(),
                                         .had_region = a.has_region(),
                                         .region_index = a.region_index(),
                                         .failover = a.is_failover()});
        }
        clock_->advance(s->latency);
#if FAILOVER_HAS_EXCEPTIONS
        if (s->error) std::rethrow_exception(s->error);
#endif
        return *s->value;
    }

    /// Every attempt seen so far, in the order the transport was called.
    std::vector<call_record> calls() const {
        std::lock_guard<std::mutex> lock(mutex_);
        return calls_;
    }
    /// Number of attempts seen so far.
    std::size_t call_count() const {
        std::lock_guard<std::mutex> lock(mutex_);
        return calls_.size();
    }

private:
    manual_clock* clock_;
    std::vector<step<R>> script_;
    when_done done_;
    mutable std::mutex mutex_;
    std::size_t next_ = 0;
    std::vector<call_record> calls_;
};

}  // namespace failover::testing

#endif  // FAILOVER_TESTING_HPP_INCLUDED
