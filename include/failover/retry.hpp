// failover: retry. Another attempt after a transient fault, with backoff and jitter, honouring
// server-directed delays and the call's deadline, optionally under a shared retry budget.
//
//   failover::retry{{.max_attempts = 4,
//                    .backoff = failover::exponential{.initial = 200ms, .factor = 2, .cap = 8s},
//                    .jitter = failover::jitter::full}}
//
// `max_attempts` counts every attempt, the first one included: 3 means at most 2 retries, and 1
// means no retry at all.
#ifndef FAILOVER_RETRY_HPP_INCLUDED
#define FAILOVER_RETRY_HPP_INCLUDED

#include <failover/detail/atomic.hpp>
#include <failover/detail/config.hpp>
#include <failover/detail/lock.hpp>
#include <failover/detail/random.hpp>
#include <failover/detail/thread_slot.hpp>
#include <failover/errors.hpp>
#include <failover/fault.hpp>
#include <failover/pipeline.hpp>
#include <failover/time.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <type_traits>

namespace failover {

// ---------------------------------------------------------------------------------------------
// backoff schedules

/// The same delay before every retry.
struct constant {
    duration delay = std::chrono::milliseconds(500);
};

/// `initial`, `initial + step`, `initial + 2 step`, ... capped at `cap`.
struct linear {
    duration initial = std::chrono::milliseconds(500);
    duration step = std::chrono::milliseconds(500);
    duration cap = std::chrono::seconds(8);
};

/// `initial`, `initial * factor`, `initial * factor^2`, ... capped at `cap`. The default is the
/// schedule of the official OpenAI clients: 0.5 s, 1 s, 2 s, 4 s, 8 s, 8 s, ...
struct exponential {
    duration initial = std::chrono::milliseconds(500);
    double factor = 2.0;
    duration cap = std::chrono::seconds(8);
};

/// One of the schedules above: `.backoff = failover::linear{...}`.
class backoff {
public:
    enum class kind : std::uint8_t { constant, linear, exponential };

    constexpr backoff(failover::constant c) noexcept : kind_(kind::constant), initial_(c.delay), cap_(c.delay) {}
    constexpr backoff(failover::linear l) noexcept : kind_(kind::linear), initial_(l.initial), step_(l.step), cap_(l.cap) {}
    constexpr backoff(failover::exponential e) noexcept
        : kind_(kind::exponential), initial_(e.initial), factor_(e.factor), cap_(e.cap) {}

    constexpr kind type() const noexcept { return kind_; }
    /// The first delay.
    constexpr duration initial() const noexcept { return initial_; }
    /// No delay of the schedule is longer.
    constexpr duration cap() const noexcept { return cap_; }

    /// The delay after failed attempt `n` (1-based), before jitter.
    constexpr duration delay(unsigned n) const noexcept {
        const unsigned k = n == 0 ? 0 : n - 1;  // growth steps after the first delay
        switch (kind_) {
            case kind::constant:
                return initial_;
            case kind::linear: {
                const long double d = static_cast<long double>(initial_.count()) +
                                      static_cast<long double>(step_.count()) * static_cast<long double>(k);
                return d >= static_cast<long double>(cap_.count()) ? cap_ : duration{static_cast<duration::rep>(d)};
            }
            case kind::exponential: {
                if (factor_ == 1.0) return initial_ < cap_ ? initial_ : cap_;
                // Multiply step by step and stop at the cap: no pow(), no overflow, and at most
                // log_factor(cap / initial) iterations whatever n is.
                long double d = static_cast<long double>(initial_.count());
                const long double cap = static_cast<long double>(cap_.count());
                for (unsigned i = 0; i < k && d < cap; ++i) d *= factor_;
                return d >= cap ? cap_ : duration{static_cast<duration::rep>(d)};
            }
        }
        return initial_;
    }

    /// Throws config_error (a compile error in a constant expression) when out of range.
    constexpr void validate() const {
        switch (kind_) {
            case kind::constant:
                if (initial_ < duration::zero())
                    detail::throw_config_error(detail::config_message("constant.delay must be >= 0").got(initial_.count()));
                break;
            case kind::linear:
                if (initial_ < duration::zero())
                    detail::throw_config_error(detail::config_message("linear.initial must be >= 0 ns").got(initial_.count()));
                if (step_ < duration::zero())
                    detail::throw_config_error(detail::config_message("linear.step must be >= 0 ns").got(step_.count()));
                if (cap_ < initial_)
                    detail::throw_config_error(detail::config_message("linear.cap must be >= linear.initial, in ns").got(cap_.count()));
                break;
            case kind::exponential:
                if (initial_ <= duration::zero())
                    detail::throw_config_error(detail::config_message("exponential.initial must be > 0 ns").got(initial_.count()));
                if (!(factor_ >= 1.0) || factor_ > 1e6)
                    detail::throw_config_error(detail::config_message("exponential.factor must be in [1, 1e6]").got_real(factor_));
                if (cap_ < initial_)
                    detail::throw_config_error(
                        detail::config_message("exponential.cap must be >= exponential.initial, in ns").got(cap_.count()));
                break;
        }
    }

private:
    kind kind_;
    duration initial_{};
    duration step_{};
    double factor_ = 1.0;
    duration cap_{};
};

/// How the backoff delay is randomised, so that callers failing together do not retry together.
/// The formulas are those of AWS's "Exponential Backoff And Jitter"; none lets a delay exceed
/// the backoff's cap.
enum class jitter : std::uint8_t {
    none,          ///< exactly the backoff delay
    full,          ///< uniform in [0, d): the most spread, the least total work under contention
    equal,         ///< uniform in [d/2, d): spread, but never much sooner than the schedule
    decorrelated,  ///< uniform in [initial, 3 x previous), capped: grows from its own last draw
};

/// The enumerator's name ("full").
constexpr const char* to_string(jitter j) noexcept {
    switch (j) {
        case jitter::none: return "none";
        case jitter::full: return "full";
        case jitter::equal: return "equal";
        case jitter::decorrelated: return "decorrelated";
    }
    return "unknown";
}

namespace detail {

/// One jittered delay. `previous` is the decorrelated walk's state for this call (0 before the
/// first retry) and is updated. `u` is uniform in [0, 1).
constexpr duration apply_jitter(jitter j, const backoff& b, unsigned failed_attempt, double u, duration& previous) noexcept {
    const duration d = b.delay(failed_attempt);
    switch (j) {
        case jitter::none:
            return d;
        case jitter::full:
            return duration{static_cast<duration::rep>(static_cast<double>(d.count()) * u)};
        case jitter::equal: {
            const double half = static_cast<double>(d.count()) / 2.0;
            return duration{static_cast<duration::rep>(half + half * u)};
        }
        case jitter::decorrelated: {
            const double base = static_cast<double>(b.initial().count());
            const double prev = previous > duration::zero() ? static_cast<double>(previous.count()) : base;
            const double cap = static_cast<double>(b.cap().count());
            const double next = base + (3.0 * prev - base) * u;
            // Compared in double and assigned from the cap itself: casting a double at or above
            // 2^63 (a cap of duration::max()) back to an integer would be undefined.
            previous = next >= cap ? b.cap() : duration{static_cast<duration::rep>(next)};
            return previous;
        }
    }
    return d;
}

}  // namespace detail

// ---------------------------------------------------------------------------------------------
// retry budget

/// How much retrying a shared retry_budget allows.
struct retry_budget_options {
    /// Retries allowed per first attempt over the window: 0.2 lets retries add at most 20 % to
    /// the load (Envoy's default retry budget is 20 % of active requests; gRPC's retryThrottling
    /// token ratio is 0.1).
    double ratio = 0.2;
    /// Retries always allowed per window, whatever the ratio says, so that a service with little
    /// traffic still retries its rare failures.
    unsigned min_retries = 10;
    /// The window over which first attempts and retries are counted, in 10 buckets.
    duration window = std::chrono::seconds(10);
};

/// A budget of retries shared by any number of retry policies (and pipelines, and threads): at
/// most `ratio` retries per first attempt over the last `window`, and never fewer than
/// `min_retries` (the larger of the two, as Envoy's minimum retry concurrency). A regional
/// outage then cannot multiply the load on the service by max_attempts.
///
/// Accounting: first attempts are counted on the call path without any shared read-modify-write
/// (each live thread increments its own cache line, handed back when the thread ends; with more
/// than 64 live threads two may share a line and an increment can be lost, which only makes the
/// budget stricter). Retries are decided and
/// counted exactly, under a lock, on the failure path only. The window moves in buckets of
/// window/10; a bucket in which no retry was asked for is taken to start when the next one is
/// asked for, which again errs towards fewer retries, never more.
class retry_budget {
public:
    explicit retry_budget(retry_budget_options options = {}) : options_(options) {
        if (!(options_.ratio >= 0.0) || options_.ratio > 1000.0)
            detail::throw_config_error(detail::config_message("retry_budget_options.ratio must be in [0, 1000]").got_real(options_.ratio));
        if (options_.window < std::chrono::milliseconds(10))
            detail::throw_config_error(
                detail::config_message("retry_budget_options.window must be >= 10 ms, in ns").got(options_.window.count()));
        bucket_ = options_.window / buckets;
    }
    retry_budget(const retry_budget&) = delete;
    retry_budget& operator=(const retry_budget&) = delete;

    const retry_budget_options& options() const noexcept { return options_; }

    /// Counts one first attempt (one call). Called by retry on every call; no lock, no shared
    /// read-modify-write.
    void record_first_attempt() noexcept {
        detail::atomic<std::uint64_t>& slot = slots_[detail::thread_slot()].count;
        // Only this thread writes this slot (short of 64 threads), so a load and a store suffice.
        slot.store(slot.load(detail::order::relaxed) + 1, detail::order::relaxed);
    }

    /// Asks for one retry at `now`: true (and the retry counted) when the budget allows it.
    bool try_acquire_retry(time_point now) {
        detail::lock_guard lock(lock_);
        const window_counts c = roll(now);
        if (static_cast<double>(c.retries) >= allowance(c.firsts)) return false;
        ++retries_total_;
        return true;
    }

    /// What the window holds at `now`.
    struct snapshot {
        std::uint64_t first_attempts = 0;  ///< first attempts counted in the window
        std::uint64_t retries = 0;         ///< retries granted in the window
        std::uint64_t allowed = 0;         ///< retries the window allows in all
    };
    snapshot read(time_point now) {
        detail::lock_guard lock(lock_);
        const window_counts c = roll(now);
        return snapshot{c.firsts, c.retries, static_cast<std::uint64_t>(allowance(c.firsts))};
    }

private:
    static constexpr std::size_t buckets = 10;

    struct alignas(64) slot {
        detail::atomic<std::uint64_t> count{0};
    };
    struct mark {  // totals when a bucket was first seen
        std::int64_t bucket = -1;
        std::uint64_t firsts = 0;
        std::uint64_t retries = 0;
    };
    struct window_counts {
        std::uint64_t firsts;
        std::uint64_t retries;
    };

    std::uint64_t firsts_total() const noexcept {
        std::uint64_t sum = 0;
        for (const slot& s : slots_) sum += s.count.load(detail::order::relaxed);
        return sum;
    }

    double allowance(std::uint64_t firsts) const noexcept {
        const double by_ratio = options_.ratio * static_cast<double>(firsts);
        return by_ratio > options_.min_retries ? by_ratio : static_cast<double>(options_.min_retries);
    }

    // Records the current bucket's mark if it is new, and returns the counts since the oldest
    // mark still inside the window.
    window_counts roll(time_point now) {
        const std::int64_t b = now.time_since_epoch() / bucket_;
        const std::uint64_t firsts = firsts_total();
        mark& current = marks_[static_cast<std::size_t>(b) % (buckets + 1)];
        if (current.bucket != b) current = mark{b, firsts, retries_total_};
        const mark* oldest = &current;
        for (const mark& m : marks_)
            if (m.bucket > b - static_cast<std::int64_t>(buckets) && m.bucket <= b && m.bucket < oldest->bucket) oldest = &m;
        return window_counts{firsts - oldest->firsts, retries_total_ - oldest->retries};
    }

    retry_budget_options options_;
    duration bucket_{};
    slot slots_[detail::thread_slots];
    detail::small_lock lock_;
    std::uint64_t retries_total_ = 0;
    mark marks_[buckets + 1];
};

// ---------------------------------------------------------------------------------------------
// retry

/// Why a retry policy stopped retrying a failure it would otherwise have retried.
enum class give_up_reason : std::uint8_t {
    attempts_exhausted,    ///< max_attempts reached
    retry_after_too_long,  ///< the server asked for a wait longer than max_retry_after
    deadline,              ///< the next attempt could not start before the call's deadline
    max_duration,          ///< retry_options.max_duration is spent
    budget_exhausted,      ///< the shared retry_budget denied the retry
    delay_function,        ///< the user's delay function returned a negative delay: stop
    rejected,              ///< an inner policy refused and retrying cannot help in time
};

/// The enumerator's name ("attempts_exhausted").
constexpr const char* to_string(give_up_reason r) noexcept {
    switch (r) {
        case give_up_reason::attempts_exhausted: return "attempts_exhausted";
        case give_up_reason::retry_after_too_long: return "retry_after_too_long";
        case give_up_reason::deadline: return "deadline";
        case give_up_reason::max_duration: return "max_duration";
        case give_up_reason::budget_exhausted: return "budget_exhausted";
        case give_up_reason::delay_function: return "delay_function";
        case give_up_reason::rejected: return "rejected";
    }
    return "unknown";
}

/// How a retry policy behaves. An aggregate: set what you need with designated initialisers.
struct retry_options {
    /// Total attempts, THE FIRST ONE INCLUDED: 3 (the default) means at most 2 retries; 1 means
    /// no retry. (Not the number of retries: resilience4j users confused the two for years.)
    unsigned max_attempts = 3;
    /// The delay schedule; default exponential 0.5 s x 2 up to 8 s.
    failover::backoff backoff = failover::exponential{};
    /// Randomisation of the schedule; default full jitter.
    failover::jitter jitter = failover::jitter::full;
    /// The faults that are retried; default every fault but `none` and `rejected`. A verdict
    /// with `no_retry` is never retried.
    fault_set retry_on = transient_faults;
    /// The longest server-directed wait (Retry-After) the policy will sleep; default 60 s. A
    /// longer one ends the retries with a `retry_after_too_long` rejection carrying the time the
    /// server named, so that an outer policy can go elsewhere, or the caller can pass it on.
    duration max_retry_after = std::chrono::seconds(60);
    /// Stop retrying this long after the call reached the policy; default none. The last sleep
    /// is clamped to what is left, and an attempt may start at the very end.
    duration max_duration = duration::max();
    /// A budget shared with other policies; default none. It must outlive the policy.
    retry_budget* budget = nullptr;

    /// Throws config_error (a compile error in a constant expression) when out of range.
    constexpr void validate() const {
        if (max_attempts < 1)
            detail::throw_config_error(detail::config_message("retry_options.max_attempts must be >= 1").got(max_attempts));
        backoff.validate();
        if (static_cast<unsigned>(jitter) > static_cast<unsigned>(jitter::decorrelated))
            detail::throw_config_error(
                detail::config_message("retry_options.jitter must be none, full, equal or decorrelated").got(static_cast<int>(jitter)));
        if (max_retry_after < duration::zero())
            detail::throw_config_error(
                detail::config_message("retry_options.max_retry_after must be >= 0 ns").got(max_retry_after.count()));
        if (max_duration <= duration::zero())
            detail::throw_config_error(detail::config_message("retry_options.max_duration must be > 0 ns").got(max_duration.count()));
    }
};

namespace detail {
struct no_hook {
    template <class... Args>
    constexpr void operator()(const Args&...) const noexcept {}
};
struct no_delay_function {};
}  // namespace detail

/// The retry policy. Use `failover::retry` (no hooks); `.on_retry(f)`, `.on_give_up(f)` and
/// `.delay_with(f)` return a policy with those function objects stored by value.
///
/// - `on_retry(unsigned failed_attempt, const verdict&, duration delay)`: before each sleep.
/// - `on_give_up(unsigned attempts, const verdict& last, give_up_reason)`: when a failure that
///   could have been retried is not.
/// - `delay_with(duration f(unsigned failed_attempt, const verdict&))`: replaces backoff and
///   jitter; a negative delay stops retrying.
///
/// Hooks run on the calling thread, concurrently when the pipeline is shared: keep them
/// thread-safe and short.
template <class OnRetry = detail::no_hook, class OnGiveUp = detail::no_hook, class DelayFn = detail::no_delay_function>
class basic_retry {
public:
    constexpr explicit basic_retry(retry_options options = {}, OnRetry on_retry = {}, OnGiveUp on_give_up = {},
                                   DelayFn delay_fn = {})
        : options_(options),
          on_retry_(static_cast<OnRetry&&>(on_retry)),
          on_give_up_(static_cast<OnGiveUp&&>(on_give_up)),
          delay_fn_(static_cast<DelayFn&&>(delay_fn)) {
        options_.validate();
    }

    constexpr const retry_options& options() const noexcept { return options_; }

    template <class F>
    constexpr basic_retry<F, OnGiveUp, DelayFn> on_retry(F f) const {
        static_assert(std::is_invocable_v<F&, unsigned, const verdict&, duration>,
                      "failover: an on_retry hook is called as `f(unsigned failed_attempt, const verdict&, duration delay)`");
        return basic_retry<F, OnGiveUp, DelayFn>(options_, static_cast<F&&>(f), on_give_up_, delay_fn_);
    }
    template <class F>
    constexpr basic_retry<OnRetry, F, DelayFn> on_give_up(F f) const {
        static_assert(std::is_invocable_v<F&, unsigned, const verdict&, give_up_reason>,
                      "failover: an on_give_up hook is called as `f(unsigned attempts, const verdict& last, give_up_reason)`");
        return basic_retry<OnRetry, F, DelayFn>(options_, on_retry_, static_cast<F&&>(f), delay_fn_);
    }
    template <class F>
    constexpr basic_retry<OnRetry, OnGiveUp, F> delay_with(F f) const {
        static_assert(std::is_invocable_r_v<duration, F&, unsigned, const verdict&>,
                      "failover: a retry delay function is called as `duration f(unsigned failed_attempt, const verdict&)`");
        return basic_retry<OnRetry, OnGiveUp, F>(options_, on_retry_, on_give_up_, static_cast<F&&>(f));
    }

    /// The policy's layer: one attempt, and the retries it earns.
    // The return type is spelled out: clang 14 does not elide the copy of a named local
    // (NRVO) in a function template whose return type is deduced.
    template <class Context, class Next>
    FAILOVER_ALWAYS_INLINE auto run(Context& ctx, Next&& next) -> decltype(next()) {
        // Without a budget or max_duration (the common case) the call needs one test of one
        // byte here, and reads no clock.
        time_point started = detail::time_min;
        if (has_setup_) [[unlikely]] {
            if (options_.budget != nullptr) options_.budget->record_first_attempt();
            if (options_.max_duration != duration::max()) started = ctx.now();
        }
        auto out = next();
        // The failure path is inlined and takes the outcome by value: called out of line, or
        // given the outcome by reference, it makes the happy path's objects live in memory, and
        // the compilers then copy them through mismatched loads and stores (~10 ns per call).
        if (!out.ok()) [[unlikely]]
            out = keep_trying(ctx, next, static_cast<decltype(out)&&>(out), started);
        return out;
    }

private:
    template <class, class, class>
    friend class basic_retry;

    // Everything after a failed first attempt, out of the happy path.
    template <class Context, class Next, class Out>
    FAILOVER_ALWAYS_INLINE Out keep_trying(Context& ctx, Next& next, Out out, time_point started) {
        unsigned attempts = out.attempted() ? 1 : 0;  // transport calls made through this policy
        unsigned waits = 0;                           // sleeps on inner rejections
        duration previous{0};                         // the decorrelated jitter's walk
        for (;;) {
            if (out.is_rejection()) {
                // An inner policy says nothing will work before retry_at: wait for it when that
                // fits, without spending an attempt; otherwise hand the rejection up. The hook
                // hears of it only when an attempt was made (otherwise nothing was retryable).
                const rejection& r = out.rejection();
                const verdict last{.kind = ctx.last_fault()};
                if (!r.retry_at || r.reason == rejection_reason::deadline_exceeded) {
                    if (attempts > 0) give_up(attempts, give_up_reason::rejected, last);
                    return out;
                }
                if (waits + 1 >= options_.max_attempts) {
                    if (attempts > 0) give_up(attempts, give_up_reason::attempts_exhausted, last);
                    return out;
                }
                const time_point now = ctx.now();
                duration wait = *r.retry_at > now ? detail::sub_sat(*r.retry_at, now) : duration::zero();
                // A time already due (a half-open breaker whose probes are taken) would be asked
                // again at once, in a loop: wait one step of the backoff instead.
                if (wait <= duration::zero()) wait = options_.backoff.delay(waits + 1);
                if (wait > options_.max_retry_after) {
                    if (attempts > 0) give_up(attempts, give_up_reason::rejected, last);
                    return out;
                }
                if (const auto why = limit_reached(ctx, now, wait, started)) {
                    if (attempts > 0) give_up(attempts, *why, last);
                    return out;
                }
                ++waits;
                ctx.sleep_for(wait);
                out = next();
                if (out.attempted()) ++attempts;
                if (out.ok()) return out;
                continue;
            }
            const verdict v = out.verdict();
            if (!v.retryable(options_.retry_on)) return out;
            if (attempts >= options_.max_attempts) {
                give_up(attempts, give_up_reason::attempts_exhausted, v);
                return out;
            }

            // A region selector with another region ready asks for the next attempt at once:
            // no backoff, no wait for the failed region's Retry-After, no budget (the load goes
            // to another region).
            duration delay{};
            if (!ctx.take_reroute()) {
                if constexpr (std::is_same_v<DelayFn, detail::no_delay_function>) {
                    delay = detail::apply_jitter(options_.jitter, options_.backoff, attempts,
                                                 options_.jitter == jitter::none ? 0.0 : detail::thread_rng().uniform01(), previous);
                } else {
                    delay = delay_fn_(attempts, v);
                    if (delay < duration::zero()) {
                        give_up(attempts, give_up_reason::delay_function, v);
                        return out;
                    }
                }
                bool server_directed = false;
                if (v.retry_after) {
                    if (*v.retry_after > options_.max_retry_after) {
                        const time_point now = ctx.now();
                        give_up(attempts, give_up_reason::retry_after_too_long, v);
                        return Out(rejection{.reason = rejection_reason::retry_after_too_long,
                                             .retry_at = detail::add_sat(now, *v.retry_after),
                                             .source = this});
                    }
                    if (*v.retry_after >= delay) {
                        delay = *v.retry_after;
                        server_directed = true;
                    }
                }
                if (!ctx.deadline().is_none() || started != detail::time_min) {
                    const time_point now = ctx.now();
                    if (!ctx.deadline().is_none() && detail::add_sat(now, delay) >= ctx.deadline().at()) {
                        give_up(attempts, give_up_reason::deadline, v);
                        return out;
                    }
                    if (started != detail::time_min) {
                        const duration left = detail::sub_sat(detail::add_sat(started, options_.max_duration), now);
                        // The backoff may be shortened to what is left; the server's wait may not.
                        if (left <= duration::zero() || (server_directed && delay > left)) {
                            give_up(attempts, give_up_reason::max_duration, v);
                            return out;
                        }
                        if (delay > left) delay = left;
                    }
                }
                if (options_.budget != nullptr && !options_.budget->try_acquire_retry(ctx.now())) {
                    give_up(attempts, give_up_reason::budget_exhausted, v);
                    return out;
                }
            }
            on_retry_(attempts, v, delay);
            ctx.sleep_for(delay);
            Out last = static_cast<Out&&>(out);
            out = next();
            // A sleep that overran the deadline (real sleeps do) makes the next attempt refuse
            // to start: the caller gets the last answer, not that refusal.
            if (out.is_rejection() && out.rejection().reason == rejection_reason::deadline_exceeded) {
                give_up(attempts, give_up_reason::deadline, v);
                return last;
            }
            if (out.attempted()) ++attempts;
            if (out.ok()) return out;
        }
    }

    // Why an attempt after `wait` from `now` would start too late, if it would.
    template <class Context>
    std::optional<give_up_reason> limit_reached(Context& ctx, time_point now, duration wait, time_point started) const {
        const time_point at = detail::add_sat(now, wait);
        if (!ctx.deadline().is_none() && at >= ctx.deadline().at()) return give_up_reason::deadline;
        if (started != detail::time_min && at > detail::add_sat(started, options_.max_duration)) return give_up_reason::max_duration;
        return std::nullopt;
    }

    void give_up(unsigned attempts, give_up_reason why, const verdict& last) { on_give_up_(attempts, last, why); }

    retry_options options_;
    bool has_setup_ = options_.budget != nullptr || options_.max_duration != duration::max();
    [[no_unique_address]] OnRetry on_retry_;
    [[no_unique_address]] OnGiveUp on_give_up_;
    [[no_unique_address]] DelayFn delay_fn_;
};

/// The retry policy without hooks: `failover::retry{{.max_attempts = 4}}`.
using retry = basic_retry<>;

}  // namespace failover

#endif  // FAILOVER_RETRY_HPP_INCLUDED
