// failover: time. One time source per pipeline; deadlines; saturating duration arithmetic.
#ifndef FAILOVER_TIME_HPP_INCLUDED
#define FAILOVER_TIME_HPP_INCLUDED

#include <failover/detail/config.hpp>

#include <chrono>
#include <concepts>
#include <limits>

#if defined(_WIN32)
#  include <thread>  // no portable alternative to this_thread::sleep_for on Windows
#else
#  include <cerrno>
#  include <time.h>
#endif

namespace failover {

/// The clock every policy measures with: monotonic, never adjusted by NTP.
using clock = std::chrono::steady_clock;
/// Durations are nanoseconds throughout: a fractional `retry-after-ms: 1.5` is kept exactly.
using duration = std::chrono::nanoseconds;
/// A point on `clock`, also what testing::manual_clock hands out.
using time_point = std::chrono::time_point<clock, duration>;

/// What a pipeline reads time from and sleeps through. `system_time` is the real one;
/// `testing::manual_clock` is virtual time for tests, where sleeping advances the clock at once.
template <class T>
concept time_source = requires(T& t, duration d) {
    { t.now() } -> std::same_as<time_point>;
    t.sleep_for(d);
};

/// The default time source: `std::chrono::steady_clock` and a real sleep of the calling thread.
struct system_time {
    time_point now() const noexcept { return clock::now(); }

    /// The same clock read cheaply at a coarser resolution (on Linux CLOCK_MONOTONIC_COARSE:
    /// ~4 ns a read here instead of ~25 ns, ticks of a few milliseconds, never ahead of now()).
    /// Used where every call would otherwise read the clock: slow-call timing and time windows.
    time_point coarse_now() const noexcept {
#if defined(CLOCK_MONOTONIC_COARSE)
        timespec t;
        ::clock_gettime(CLOCK_MONOTONIC_COARSE, &t);
        return time_point(duration(static_cast<duration::rep>(t.tv_sec) * 1'000'000'000 + t.tv_nsec));
#else
        return now();
#endif
    }

    /// Sleeps at least `d` (a zero or negative `d` returns at once); resumes after signals.
    void sleep_for(duration d) const noexcept {
        if (d <= duration::zero()) return;
#if defined(_WIN32)
        std::this_thread::sleep_for(d);
#else
        const auto secs = std::chrono::duration_cast<std::chrono::seconds>(d);
        timespec left{static_cast<time_t>(secs.count()), static_cast<long>((d - secs).count())};
        while (::nanosleep(&left, &left) != 0 && errno == EINTR) {
        }
#endif
    }
};

namespace detail {

/// `t.coarse_now()` when the time source has one, `t.now()` otherwise (virtual time is exact).
template <class T>
time_point coarse_now(T& t) {
    if constexpr (requires { { t.coarse_now() } -> std::same_as<time_point>; })
        return t.coarse_now();
    else
        return t.now();
}

inline constexpr time_point time_max = time_point::max();
inline constexpr time_point time_min = time_point::min();

/// `a + b` clamped to the representable range instead of overflowing.
constexpr duration add_sat(duration a, duration b) noexcept {
    using rep = duration::rep;
    rep out{};
    if (__builtin_add_overflow(a.count(), b.count(), &out))
        return b.count() > 0 ? duration::max() : duration::min();
    return duration{out};
}

/// `t + d` clamped to [time_point::min(), time_point::max()].
constexpr time_point add_sat(time_point t, duration d) noexcept {
    return time_point{add_sat(t.time_since_epoch(), d)};
}

/// `a - b` clamped, for "how long until a": never wraps around.
constexpr duration sub_sat(time_point a, time_point b) noexcept {
    using rep = duration::rep;
    rep out{};
    if (__builtin_sub_overflow(a.time_since_epoch().count(), b.time_since_epoch().count(), &out))
        return a > b ? duration::max() : duration::min();
    return duration{out};
}

/// Any std::chrono duration to nanoseconds, saturating where the cast would overflow
/// (`std::chrono::hours::max()` becomes `duration::max()`, not garbage).
template <class Rep, class Period>
constexpr duration to_duration_sat(std::chrono::duration<Rep, Period> d) noexcept {
    using target = std::chrono::duration<long double, std::nano>;
    const long double ns = std::chrono::duration_cast<target>(d).count();
    if (ns != ns) return duration::zero();  // NaN: no meaningful duration, and casting it is UB
    if (ns >= static_cast<long double>(std::numeric_limits<duration::rep>::max())) return duration::max();
    if (ns <= static_cast<long double>(std::numeric_limits<duration::rep>::min())) return duration::min();
    return std::chrono::duration_cast<duration>(d);
}

}  // namespace detail

/// The time by which a call must be over. No attempt starts after it and no sleep runs past it.
/// `deadline::none()` (the default) never expires and costs no clock read.
class deadline {
public:
    /// A deadline that never expires.
    constexpr deadline() noexcept = default;
    /// A deadline at the given time on `failover::clock`.
    constexpr explicit deadline(time_point at) noexcept : at_(at) {}

    static constexpr deadline none() noexcept { return deadline{}; }
    /// `now + d`, saturating: a huge `d` means no deadline rather than an overflow.
    template <class Rep, class Period>
    static constexpr deadline after(time_point now, std::chrono::duration<Rep, Period> d) noexcept {
        return deadline{detail::add_sat(now, detail::to_duration_sat(d))};
    }

    constexpr bool is_none() const noexcept { return at_ == detail::time_max; }
    constexpr time_point at() const noexcept { return at_; }
    constexpr bool expired(time_point now) const noexcept { return !is_none() && now >= at_; }
    /// Time left at `now`: zero once expired, `duration::max()` for no deadline.
    constexpr duration remaining(time_point now) const noexcept {
        if (is_none()) return duration::max();
        return now >= at_ ? duration::zero() : detail::sub_sat(at_, now);
    }

    /// The earlier of two deadlines.
    friend constexpr deadline earliest(deadline a, deadline b) noexcept { return a.at_ <= b.at_ ? a : b; }
    friend constexpr bool operator==(deadline, deadline) noexcept = default;

private:
    time_point at_ = detail::time_max;
};

}  // namespace failover

#endif  // FAILOVER_TIME_HPP_INCLUDED
