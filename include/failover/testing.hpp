// failover: test support. Virtual time and a scripted transport, so that policies are tested
// (by the library and by its users) deterministically and without sleeping for real.
// Not included by failover/failover.hpp.
#ifndef FAILOVER_TESTING_HPP_INCLUDED
#define FAILOVER_TESTING_HPP_INCLUDED

#include <failover/detail/config.hpp>
#include <failover/detail/random.hpp>
#include <failover/pipeline.hpp>
#include <failover/time.hpp>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
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

// ---------------------------------------------------------------------------------------------
// A simulator of regions, to run outage scenarios against a configuration in virtual time.

/// What a simulated region does during a phase.
enum class sim_behaviour : std::uint8_t {
    healthy,       ///< answers after its latency
    unavailable,   ///< answers 503 (`unavailable`), with `retry_after` when set
    refuse,        ///< refuses the connection at once (`connection`)
    stall,         ///< never answers: the attempt ends at the simulation's attempt timeout (`timeout`)
    throttle,      ///< answers 429 (`throttled`) with `retry_after`
    slow,          ///< answers, after `latency`
    intermittent,  ///< fails (`unavailable`) at `failure_rate`, from a seeded generator
};

/// One scripted phase of a region, in time since the simulation started: [from, to).
struct sim_phase {
    duration from{};
    duration to{};
    sim_behaviour behaviour = sim_behaviour::healthy;
    std::optional<duration> retry_after{};
    double failure_rate = 0.0;
    duration latency{};
};

/// A simulated region: a name, a healthy latency, its script, and what it served.
struct sim_region {
    std::string name;
    duration latency = std::chrono::milliseconds(50);
    std::vector<sim_phase> phases{};
    std::uint64_t attempts = 0;  ///< attempts it received
    std::uint64_t served = 0;    ///< attempts it answered with success

    /// The phase in force `t` after the start (healthy when none is).
    sim_phase at(duration t) const {
        for (const sim_phase& p : phases)
            if (t >= p.from && t < p.to) return p;
        return sim_phase{};
    }
};

/// How the simulated load runs.
struct sim_options {
    duration run_for = std::chrono::seconds(120);
    /// A new logical call starts every `interval` (100 calls/s by default), whatever the
    /// calls before it are doing: each call runs on its own timeline, as concurrent callers do.
    duration interval = std::chrono::milliseconds(10);
    /// An attempt that gets no answer ends after this long, as with a client timeout.
    duration attempt_timeout = std::chrono::seconds(2);
    std::uint64_t seed = 1;
};

/// What the load met, for assertions and for the table.
struct sim_report {
    std::uint64_t calls = 0, ok = 0, failed = 0, rejected = 0, attempts = 0;
    /// Calls in [window_from, window_to) (the outage, when the scenario names one).
    std::uint64_t window_calls = 0, window_ok = 0, window_attempts = 0;
    /// The same after detection: from the first call of the window that went straight to a
    /// region other than the first (no failed attempt before it).
    std::uint64_t detected_calls = 0, detected_attempts = 0;
    /// Time from window_from to that first direct call; empty when none.
    std::optional<duration> time_to_failover{};
    /// Time from window_to to the first call served by region 0 again; empty when none.
    std::optional<duration> time_to_failback{};
    /// Changes of the region a call's first attempt went to, from one call to the next: how
    /// often traffic moved (a call that failed over after a fault does not count).
    std::uint64_t switches = 0;
    /// The longest a call took, beyond region 0's healthy latency, after detection.
    duration max_added_after_detection{0};
    /// The longest a call took beyond region 0's healthy latency, during the window.
    duration max_added_in_window{0};
    /// The longest a call refused without any attempt took.
    duration max_rejection_time{0};
    /// Time spent sleeping in all calls (backoff and honoured Retry-After).
    duration waited{0};

    double success_share() const { return calls == 0 ? 0.0 : static_cast<double>(ok) / static_cast<double>(calls); }
    double window_success_share() const {
        return window_calls == 0 ? 1.0 : static_cast<double>(window_ok) / static_cast<double>(window_calls);
    }
    double attempts_per_call_after_detection() const {
        return detected_calls == 0 ? 0.0 : static_cast<double>(detected_attempts) / static_cast<double>(detected_calls);
    }
};

namespace detail_sim {
// One call's own timeline: it starts at the world's time and moves with its attempts and
// sleeps, so that calls overlap as concurrent callers' calls do.
struct call_time {
    time_point start;
    duration offset{0};
    time_point now() const noexcept { return start + offset; }
    void sleep_for(duration d) noexcept {
        if (d > duration::zero()) offset += d;
    }
};
}  // namespace detail_sim

/// Runs steady load through a pipeline over `regions` and reports what the calls met.
/// `make(time)` builds the pipeline on the given time source, e.g.
/// `[&](auto& t) { return failover::pipeline(failover::retry{}, failover::ref(selector)).with_time(t); }`
/// with the selector over `regions`. `window` names the outage to measure, in time since the start.
template <class Make>
sim_report simulate(std::vector<sim_region>& regions, Make&& make, const sim_options& options = {},
                    duration window_from = duration::zero(), duration window_to = duration::zero()) {
    sim_report rep;
    failover::detail::xoshiro256 rng(options.seed);
    const time_point origin = time_point{} + std::chrono::hours(1);
    const duration healthy = regions.empty() ? duration::zero() : regions[0].latency;
    std::size_t previous = SIZE_MAX;
    bool detected = false;
    for (duration t{0}; t < options.run_for; t += options.interval) {
        detail_sim::call_time time{origin + t};
        auto p = make(time);
        std::size_t served_by = SIZE_MAX;
        std::size_t first_region = SIZE_MAX;
        bool first_direct = false;
        auto transport = [&](const attempt& a) -> verdict {
            sim_region& r = regions[a.region_index()];
            if (&a.region<sim_region>() != &r)
                failover::detail::fatal("simulate(): the selector must run over the very vector given to simulate()");
            ++r.attempts;
            const sim_phase ph = r.at(time.now() - origin);
            duration latency = ph.latency > duration::zero() ? ph.latency : r.latency;
            verdict v{};
            switch (ph.behaviour) {
                case sim_behaviour::healthy:
                case sim_behaviour::slow: break;
                case sim_behaviour::unavailable: v = verdict{.kind = fault::unavailable, .retry_after = ph.retry_after}; break;
                case sim_behaviour::refuse:
                    v = verdict{.kind = fault::connection};
                    latency = std::chrono::milliseconds(1);
                    break;
                case sim_behaviour::stall:
                    v = verdict{.kind = fault::timeout};
                    latency = options.attempt_timeout;
                    break;
                case sim_behaviour::throttle:
                    v = verdict{.kind = fault::throttled, .retry_after = ph.retry_after};
                    latency = std::chrono::milliseconds(5);
                    break;
                case sim_behaviour::intermittent:
                    if (rng.uniform01() < ph.failure_rate) v = verdict{.kind = fault::unavailable};
                    break;
            }
            if (latency > options.attempt_timeout) {
                latency = options.attempt_timeout;
                v = verdict{.kind = fault::timeout};
            }
            time.offset += latency;
            if (v.ok()) {
                ++r.served;
                served_by = a.region_index();
            }
            if (a.number() == 1) {
                first_region = a.region_index();
                first_direct = first_region != 0;
            }
            return v;
        };
        auto res = p(transport);
        const duration took = time.offset;
        const bool in_window = t >= window_from && t < window_to;
        ++rep.calls;
        rep.attempts += res.report().attempts;
        rep.waited += res.report().waited;
        if (res.ok())
            ++rep.ok;
        else if (res.is_rejection())
            ++rep.rejected;
        else
            ++rep.failed;
        if (res.is_rejection() && res.report().attempts == 0 && took > rep.max_rejection_time) rep.max_rejection_time = took;
        const duration added = took > healthy ? took - healthy : duration::zero();
        if (in_window) {
            ++rep.window_calls;
            rep.window_ok += res.ok();
            rep.window_attempts += res.report().attempts;
            if (added > rep.max_added_in_window) rep.max_added_in_window = added;
            if (!detected && first_direct) {
                detected = true;
                rep.time_to_failover = t - window_from;
            }
            if (detected) {
                ++rep.detected_calls;
                rep.detected_attempts += res.report().attempts;
                if (added > rep.max_added_after_detection) rep.max_added_after_detection = added;
            }
        }
        if (window_to > window_from && t >= window_to && !rep.time_to_failback && served_by == 0)
            rep.time_to_failback = t - window_to;
        if (first_region != SIZE_MAX) {
            if (previous != SIZE_MAX && first_region != previous) ++rep.switches;
            previous = first_region;
        }
    }
    return rep;
}

}  // namespace failover::testing

#endif  // FAILOVER_TESTING_HPP_INCLUDED
