// failover: the circuit breaker. It tells a region that is down from a single fault: it counts
// the outcomes of the calls it admits, opens when a trip rule is met, rejects calls while open,
// lets a bounded number of probes through once the open time is over, and closes again when
// they succeed.
//
// Cost while closed: admission is one atomic load of a line that changes only at transitions
// and when the window's condition changes (see the state word); a success in a clean window
// (full, no failure) writes nothing, and otherwise reads that line again and stores to a line
// owned by the calling thread: no lock, no shared read-modify-write, no clock read unless a
// time window or slow-call tracking is on, and then a coarse one. Failures, slow calls,
// transitions and every other state take a small lock.
#ifndef FAILOVER_CIRCUIT_BREAKER_HPP_INCLUDED
#define FAILOVER_CIRCUIT_BREAKER_HPP_INCLUDED

#include <failover/detail/atomic.hpp>
#include <failover/detail/config.hpp>
#include <failover/detail/lock.hpp>
#include <failover/detail/thread_slot.hpp>
#include <failover/errors.hpp>
#include <failover/fault.hpp>
#include <failover/pipeline.hpp>
#include <failover/time.hpp>

#include <chrono>
#include <climits>
#include <cstddef>
#include <cstdint>
#include <new>
#include <optional>
#include <type_traits>

namespace failover {

/// The states of a breaker. `closed` and `disabled` admit every call; `open` and
/// `forced_open` admit none; `half_open` admits a bounded number of probes.
enum class breaker_state : std::uint8_t {
    closed = 0,       ///< admits everything, counts outcomes, trips when a rule is met
    disabled = 1,     ///< admits everything and keeps counting, never trips (a shadow mode)
    open = 2,         ///< rejects everything until its open time is over
    half_open = 3,    ///< admits `half_open_probes` probes, then decides
    forced_open = 4,  ///< rejects everything until reset()
};

constexpr const char* to_string(breaker_state s) noexcept {
    switch (s) {
        case breaker_state::closed: return "closed";
        case breaker_state::disabled: return "disabled";
        case breaker_state::open: return "open";
        case breaker_state::half_open: return "half_open";
        case breaker_state::forced_open: return "forced_open";
    }
    return "unknown";
}

/// Why a breaker changed state.
enum class breaker_reason : std::uint8_t {
    consecutive_failures,  ///< closed → open: `consecutive_failures` failures in a row
    failure_rate,          ///< closed → open: the window's failure rate reached the threshold
    slow_call_rate,        ///< closed → open: the window's slow-call rate reached the threshold
    open_elapsed,          ///< open → half_open: the open time is over and a call arrived
    probes_succeeded,      ///< half_open → closed: `successes_to_close` probes succeeded
    probe_failed,          ///< half_open → open: `failures_to_reopen` probes failed
    half_open_timeout,     ///< half_open → open: the probes did not decide within `max_half_open`
    forced_open,           ///< force_open()
    disabled,              ///< disable()
    reset,                 ///< reset()
};

constexpr const char* to_string(breaker_reason r) noexcept {
    switch (r) {
        case breaker_reason::consecutive_failures: return "consecutive_failures";
        case breaker_reason::failure_rate: return "failure_rate";
        case breaker_reason::slow_call_rate: return "slow_call_rate";
        case breaker_reason::open_elapsed: return "open_elapsed";
        case breaker_reason::probes_succeeded: return "probes_succeeded";
        case breaker_reason::probe_failed: return "probe_failed";
        case breaker_reason::half_open_timeout: return "half_open_timeout";
        case breaker_reason::forced_open: return "forced_open";
        case breaker_reason::disabled: return "disabled";
        case breaker_reason::reset: return "reset";
    }
    return "unknown";
}

/// A window over the last `size` outcomes.
struct count_window {
    unsigned size = 20;
};

/// A window over the last `length` of time, kept in `buckets` buckets of length/buckets each.
/// An outcome leaves the window when the bucket it fell in is `buckets` buckets old, that is
/// between length − length/buckets and length after it was recorded.
struct time_window {
    duration length = std::chrono::seconds(60);
    unsigned buckets = 12;
};

/// The window a failure-rate rule is computed over: none (the default), a count_window or a
/// time_window. `.window = failover::count_window{.size = 50}`.
class failure_window {
public:
    enum class type : std::uint8_t { none, count, time };

    constexpr failure_window() noexcept = default;
    constexpr failure_window(count_window w) noexcept : type_(type::count), count_(w) {}
    constexpr failure_window(time_window w) noexcept : type_(type::time), time_(w) {}

    constexpr type kind() const noexcept { return type_; }
    constexpr const count_window& count() const noexcept { return count_; }
    constexpr const time_window& time() const noexcept { return time_; }

private:
    type type_ = type::none;
    count_window count_{};
    time_window time_{};
};

/// How a breaker trips, stays open and comes back. Every field has a default suited to an LLM
/// endpoint at low traffic; the README gives the reason for each.
struct circuit_breaker_options {
    /// Trip after this many counted failures in a row; 0 turns the rule off. Default 5.
    unsigned consecutive_failures = 5;
    /// The window of the rate rules: none (default), count_window or time_window.
    failure_window window{};
    /// Trip when failures / calls in the window reaches this (inclusive), in [0.000001, 1]
    /// (compared exactly, at a resolution of one part per million). Default 0.5.
    double failure_rate = 0.5;
    /// The rate rules wait for this many calls in the window. Default 10. Must not exceed a
    /// count window's size (the rule could never trip; this is an error, not a silent clamp).
    unsigned minimum_calls = 10;
    /// A call that takes longer than this (strictly) is slow; zero (default) turns slow-call
    /// tracking off. Needs a window.
    duration slow_call_duration = duration::zero();
    /// Trip when slow calls / calls in the window reaches this (inclusive), in [0.000001, 1].
    /// Default 1.
    double slow_call_rate = 1.0;
    /// The faults that count as failures; every other verdict is a success for health.
    /// Default: timeout, connection, reset, unavailable. `throttled` is not a failure unless
    /// added here; `rejected` (the request was wrong, the region answered) never should be.
    fault_set counted_faults = region_faults;
    /// How long the breaker stays open the first time. Default 30 s.
    duration open_for = std::chrono::seconds(30);
    /// Each further open in a row (without closing in between) lasts this many times longer;
    /// 1 keeps it fixed. Default 2.
    double open_growth = 2.0;
    /// The longest open time, growth and Retry-After included. Default 5 min.
    duration max_open_for = std::chrono::minutes(5);
    /// How long the breaker must stay closed before the growth is forgotten; zero (default):
    /// as soon as it closes. Longer keeps a region that keeps failing again soon after its
    /// probe succeeded out longer each time (Envoy's ejection multiplier works this way).
    duration reset_growth_after = duration::zero();
    /// Stay open for the tripping verdict's retry_after when that is longer (up to
    /// max_open_for). Default true.
    bool open_for_retry_after = true;
    /// Probes admitted per half-open episode (placed, not in flight). Default 1.
    unsigned half_open_probes = 1;
    /// Probe successes that close the breaker. Default 1.
    unsigned successes_to_close = 1;
    /// Probe failures (or slow probes) that reopen it. Default 1: any failure reopens.
    unsigned failures_to_reopen = 1;
    /// A half-open episode undecided after this long reopens at the next admission, so that a
    /// probe that never reports cannot wedge the breaker. Default 2 min.
    duration max_half_open = std::chrono::minutes(2);
    /// A label for events and logs. Not copied: it must outlive the breaker.
    const char* name = "circuit_breaker";

    /// Throws config_error (a compile error in a constant expression) when out of range.
    constexpr void validate() const {
        using detail::config_message;
        using detail::throw_config_error;
        const failure_window::type w = window.kind();
        if (consecutive_failures == 0 && w == failure_window::type::none)
            throw_config_error("circuit_breaker_options: no trip rule; set consecutive_failures >= 1 or a window");
        if (!(failure_rate >= 1e-6 && failure_rate <= 1.0))
            throw_config_error(config_message("circuit_breaker_options.failure_rate must be in [0.000001, 1]").got_real(failure_rate));
        if (minimum_calls < 1)
            throw_config_error(config_message("circuit_breaker_options.minimum_calls must be >= 1").got(minimum_calls));
        if (w == failure_window::type::count) {
            const unsigned size = window.count().size;
            if (size < 1 || size > 1'000'000)
                throw_config_error(config_message("count_window.size must be in [1, 1000000]").got(size));
            if (minimum_calls > size)
                throw_config_error(config_message(
                    "circuit_breaker_options.minimum_calls must be <= count_window.size, or the rate rule could never trip")
                                       .got_both(minimum_calls, size));
        }
        if (w == failure_window::type::time) {
            const time_window& t = window.time();
            if (t.buckets < 1 || t.buckets > 1000)
                throw_config_error(config_message("time_window.buckets must be in [1, 1000]").got(t.buckets));
            if (t.length < std::chrono::milliseconds(1) * t.buckets)
                throw_config_error(
                    config_message("time_window.length must be >= 1 ms per bucket, in ns").got(t.length.count()));
        }
        if (slow_call_duration < duration::zero())
            throw_config_error(
                config_message("circuit_breaker_options.slow_call_duration must be >= 0 ns (0: off)").got(slow_call_duration.count()));
        if (slow_call_duration > duration::zero() && w == failure_window::type::none)
            throw_config_error("circuit_breaker_options.slow_call_duration needs a count_window or time_window");
        if (!(slow_call_rate >= 1e-6 && slow_call_rate <= 1.0))
            throw_config_error(config_message("circuit_breaker_options.slow_call_rate must be in [0.000001, 1]").got_real(slow_call_rate));
        if (counted_faults.contains(fault::none))
            throw_config_error("circuit_breaker_options.counted_faults must not contain fault::none");
        if (open_for <= duration::zero())
            throw_config_error(config_message("circuit_breaker_options.open_for must be > 0 ns").got(open_for.count()));
        if (!(open_growth >= 1.0 && open_growth <= 1000.0))
            throw_config_error(config_message("circuit_breaker_options.open_growth must be in [1, 1000]").got_real(open_growth));
        if (max_open_for < open_for)
            throw_config_error(config_message("circuit_breaker_options.max_open_for must be >= open_for, in ns").got(max_open_for.count()));
        if (half_open_probes < 1 || half_open_probes > 1'000'000)
            throw_config_error(config_message("circuit_breaker_options.half_open_probes must be in [1, 1000000]").got(half_open_probes));
        if (successes_to_close < 1 || successes_to_close > half_open_probes)
            throw_config_error(config_message("circuit_breaker_options.successes_to_close must be in [1, half_open_probes]")
                                   .got_both(successes_to_close, half_open_probes));
        if (failures_to_reopen < 1 || failures_to_reopen > half_open_probes)
            throw_config_error(config_message("circuit_breaker_options.failures_to_reopen must be in [1, half_open_probes]")
                                   .got_both(failures_to_reopen, half_open_probes));
        if (successes_to_close + failures_to_reopen - 1 > half_open_probes)
            throw_config_error(config_message("circuit_breaker_options: successes_to_close + failures_to_reopen - 1 must be <= "
                                              "half_open_probes, or the probes may end undecided")
                                   .got_both(successes_to_close + failures_to_reopen - 1, half_open_probes));
        if (reset_growth_after < duration::zero())
            throw_config_error(
                config_message("circuit_breaker_options.reset_growth_after must be >= 0 ns").got(reset_growth_after.count()));
        if (max_half_open <= duration::zero())
            throw_config_error(config_message("circuit_breaker_options.max_half_open must be > 0 ns").got(max_half_open.count()));
        if (name == nullptr) throw_config_error("circuit_breaker_options.name must not be null");
    }
};

/// What a breaker holds, read consistently under its lock.
struct breaker_snapshot {
    breaker_state state = breaker_state::closed;
    /// Outcomes in the window (with no window: the last `consecutive_failures`, at most 1024).
    std::uint64_t calls = 0;
    std::uint64_t failures = 0;
    std::uint64_t slow_calls = 0;
    /// Slow calls that also failed (counted in both failures and slow_calls).
    std::uint64_t slow_failures = 0;
    /// Counted failures in a row, up to now.
    unsigned consecutive_failures = 0;
    /// failures / calls; empty while calls < minimum_calls ("not enough calls yet", never -1).
    std::optional<double> failure_rate{};
    /// slow_calls / calls; empty while calls < minimum_calls or slow calls are not tracked.
    std::optional<double> slow_call_rate{};
    /// Opens in a row since the breaker last closed (what the open time grows with).
    unsigned opens_in_row = 0;
    /// In half_open: probes admitted, and how many succeeded and failed so far.
    unsigned probes_placed = 0;
    unsigned probe_successes = 0;
    unsigned probe_failures = 0;
    /// Open: time left before a probe may go (zero once due); forced_open: duration::max().
    duration remaining_open{0};
    /// Calls this breaker rejected, since it was built.
    std::uint64_t rejected = 0;
    /// Results dropped because the breaker had changed state since their call was admitted.
    std::uint64_t stale_results = 0;
};

class circuit_breaker;

/// One state change, as a listener sees it. `snapshot` is taken just before the change, so a
/// trip shows the counts that caused it.
struct breaker_event {
    breaker_state from = breaker_state::closed;
    breaker_state to = breaker_state::closed;
    breaker_reason why = breaker_reason::reset;
    time_point at{};
    /// When `to` is open: how long it stays open.
    duration open_for{0};
    breaker_snapshot snapshot{};
    const circuit_breaker* source = nullptr;
    const char* name = "";
};

/// A circuit breaker: a pipeline policy around one endpoint, and the health of one region
/// inside `regions`. One object serves every thread; every member function is thread-safe.
///
/// Half-open admits at most `half_open_probes` probes per episode, counting probes *placed*,
/// not in flight: a region that is slow to fail cannot be sent a stream of probes as each one
/// returns, and the load sent to a recovering region is known. A probe whose outcome is never
/// known (an inner policy refused, an exception escaped an inner layer) hands its place back.
class circuit_breaker {
    // The state word: generation << 8 | flag | state. The generation changes at every
    // transition, so a call admitted before one can be told from a call admitted after. The
    // flag (closed and disabled only) sends successes to the lock too: it is set while the
    // window holds failures (or slow calls) but not yet minimum_calls calls, when a success
    // that completes the minimum can trip the breaker. Admission tests state and flag at once.
    static constexpr std::uint64_t state_mask = 0x3f;
    static constexpr std::uint64_t successes_locked = 0x80;
    // Also closed and disabled only: the count window is full and holds no failure and no
    // slow call, so another success changes nothing and needs no write at all.
    static constexpr std::uint64_t clean = 0x40;
    static constexpr unsigned tag_shift = 48;  // per-thread counters: tag << 48 | count
    static constexpr std::uint64_t count_mask = (std::uint64_t{1} << tag_shift) - 1;

public:
    explicit circuit_breaker(const circuit_breaker_options& options = {}) : options_(options) {
        options_.validate();
        counted_ = options_.counted_faults;
        slow_call_duration_ = options_.slow_call_duration;
        mode_ = static_cast<std::uint8_t>((options_.slow_call_duration > duration::zero() ? timed : 0) |
                                          (options_.window.kind() == failure_window::type::time ? bucketed : 0));
        rate_ppm_ = ppm(options_.failure_rate);
        slow_rate_ppm_ = ppm(options_.slow_call_rate);
        allocate();
        word_.store(std::uint64_t{1} << 8 | static_cast<std::uint64_t>(breaker_state::closed), detail::order::relaxed);
    }
    /// Moves a breaker that no thread uses yet (so that it can be given to a pipeline by value).
    circuit_breaker(circuit_breaker&& o) noexcept : options_(o.options_) {
        word_.store(o.word_.load(detail::order::relaxed), detail::order::relaxed);
        slots_ = o.slots_;
        slow_call_duration_ = o.slow_call_duration_;
        counted_ = o.counted_;
        mode_ = o.mode_;
        open_until_.store(o.open_until_.load(detail::order::relaxed), detail::order::relaxed);
        rejected_.store(o.rejected_.load(detail::order::relaxed), detail::order::relaxed);
        rate_ppm_ = o.rate_ppm_;
        slow_rate_ppm_ = o.slow_rate_ppm_;
        stale_ = o.stale_;
        streak_ = o.streak_;
        opens_in_row_ = o.opens_in_row_;
        probes_placed_ = o.probes_placed_;
        probe_successes_ = o.probe_successes_;
        probe_failures_ = o.probe_failures_;
        half_open_since_ = o.half_open_since_;
        closed_at_ = o.closed_at_;
        shadow_told_ = o.shadow_told_;
        ring_size_ = o.ring_size_;
        totals_ = o.totals_;
        ring_ = o.ring_;
        words_ = o.words_;
        filled_ = o.filled_;
        head_pos_ = o.head_pos_;
        buckets_ = o.buckets_;
        bucket_ns_ = o.bucket_ns_;
        head_ = o.head_;
        listener_ = o.listener_;
        listener_user_ = o.listener_user_;
        o.slots_ = nullptr;
        o.ring_ = nullptr;
        o.buckets_ = nullptr;
        // A moved-from breaker rejects every call (it has no counters left); destroy it.
        o.word_.store(static_cast<std::uint64_t>(breaker_state::forced_open), detail::order::relaxed);
    }
    circuit_breaker(const circuit_breaker&) = delete;
    circuit_breaker& operator=(const circuit_breaker&) = delete;
    circuit_breaker& operator=(circuit_breaker&&) = delete;
    ~circuit_breaker() { release_storage(); }

    const circuit_breaker_options& options() const noexcept { return options_; }
    const char* name() const noexcept { return options_.name; }

    /// The stored state. Open becomes half_open lazily, when a call arrives after the open time
    /// (no timer thread): remaining_open() tells when that is due.
    breaker_state state() const noexcept { return state_of(word_.load(detail::order::acquire)); }

    /// A number that grows by one at every state change (and reset): a call admitted in one
    /// generation does not count in another.
    std::uint64_t generation() const noexcept { return generation_of(word_.load(detail::order::acquire)); }

    /// Time left before an open breaker lets a probe through (zero once due, or when not open);
    /// duration::max() when forced open.
    duration remaining_open(time_point now) const noexcept {
        const std::uint64_t w = word_.load(detail::order::acquire);
        if (state_of(w) == breaker_state::forced_open) return duration::max();
        if (state_of(w) != breaker_state::open) return duration::zero();
        const time_point until{duration(open_until_.load(detail::order::relaxed))};
        return until > now ? detail::sub_sat(until, now) : duration::zero();
    }
    duration remaining_open() const noexcept { return remaining_open(clock::now()); }

    /// Calls `f(const breaker_event&)` at every state change, on the thread that caused it and
    /// while the breaker's lock is held: `f` must not call this breaker (the event carries a
    /// snapshot). `f` is referenced, not copied, and must outlive the breaker or the next
    /// on_transition call. No listener costs nothing.
    template <class F>
    void on_transition(F& f) {
        static_assert(std::is_invocable_v<F&, const breaker_event&>,
                      "failover: a breaker listener is called as `f(const failover::breaker_event&)`");
        detail::lock_guard lock(lock_);
        listener_user_ = const_cast<void*>(static_cast<const void*>(&f));
        listener_ = [](void* user, const breaker_event& e) { (*static_cast<F*>(user))(e); };
    }
    /// Removes the listener.
    void clear_listener() {
        detail::lock_guard lock(lock_);
        listener_ = nullptr;
        listener_user_ = nullptr;
    }

    /// Rejects every call until reset().
    void force_open(time_point now = clock::now()) { manual(breaker_state::forced_open, breaker_reason::forced_open, now); }
    /// Admits every call and keeps counting, but never trips: a shadow mode for rolling a
    /// configuration out. A crossing that would have tripped is told to the listener once per
    /// disabled episode, as an event from disabled to disabled. reset() ends it.
    void disable(time_point now = clock::now()) { manual(breaker_state::disabled, breaker_reason::disabled, now); }
    /// Closed, with an empty window and the open-time growth forgotten.
    void reset(time_point now = clock::now()) { manual(breaker_state::closed, breaker_reason::reset, now); }

    /// What the breaker holds now.
    breaker_snapshot snapshot(time_point now = clock::now()) {
        detail::lock_guard lock(lock_);
        const std::uint64_t w = word_.load(detail::order::relaxed);
        if (counting(state_of(w))) {
            take_successes(w, now);
            refresh_flag(w);
        }
        return snapshot_locked(word_.load(detail::order::relaxed), now);
    }

    // -----------------------------------------------------------------------------------------
    // Standalone use, without a pipeline

    class permit;
    /// Asks to make a call at `now`. A permit that is not admitted carries the rejection; an
    /// admitted one must be given the call's outcome (record) or handed back (release); its
    /// destructor hands it back otherwise.
    permit acquire(time_point now);

    // -----------------------------------------------------------------------------------------
    // The pipeline policy

    template <class Context, class Next>
    // The return type is spelled out: clang 14 does not elide the copy of a named local
    // (NRVO) in a function template whose return type is deduced, and the copy cost ~2 ns.
    FAILOVER_ALWAYS_INLINE auto run(Context& ctx, Next&& next) -> decltype(next()) {
        // Two separate paths, each returning its own outcome as a prvalue (so each is built in
        // place): merged, the admission of the rare states joined the common path, and clang
        // re-tested the word after the call and jumped around the slow code on every call
        // (callgrind, instructions per call over a plain call: clang 34 merged, 27 split; g++
        // 30 and 24).
        const std::uint64_t w = word_.load(detail::order::acquire);
        if (mode_ == 0 && fast_counting(w)) [[likely]]
            return closed_call(ctx, static_cast<Next&&>(next), w);
        return any_call(ctx, static_cast<Next&&>(next), w);
    }

    /// The state word as `run` reads it first (acquire), for a caller that looks before it
    /// calls: the region selector reads it to see whether a region takes calls, then passes it
    /// to run_with_word, so that the breaker does not read it a second time.
    std::uint64_t load_word() const noexcept { return word_.load(detail::order::acquire); }
    /// True for a word whose calls are admitted on the closed path (closed or disabled, counted
    /// without the lock): run_with_word then makes no admission check of its own once inlined.
    static constexpr bool takes_calls_plainly(std::uint64_t w) noexcept { return fast_counting(w); }

    /// `run` with the state word already read by the caller with load_word().
    template <class Context, class Next>
    FAILOVER_ALWAYS_INLINE auto run_with_word(Context& ctx, Next&& next, std::uint64_t w) -> decltype(next()) {
#if defined(__clang__)
        if (mode_ == 0 && fast_counting(w)) [[likely]]
            return closed_call(ctx, static_cast<Next&&>(next), w);
#endif
        // g++ keeps the selector's call context in memory when this path is split as in run()
        // (63 instructions over a plain call instead of 35); clang gains from the split (40
        // instead of 46).
        return any_call(ctx, static_cast<Next&&>(next), w);
    }

private:
    // Closed (or disabled), counting without the lock, no timing and no time window: the
    // happy path of the common configurations.
    template <class Context, class Next>
    FAILOVER_ALWAYS_INLINE auto closed_call(Context& ctx, Next&& next, std::uint64_t w) -> decltype(next()) {
        decltype(next()) out = next();
        if (!out.is_rejection()) [[likely]]
            record_closed(ctx, w, out.verdict());
        return out;
    }

    // The result of a call admitted on the closed path (mode_ == 0, fast_counting(w)).
    template <class Context>
    FAILOVER_ALWAYS_INLINE void record_closed(Context& ctx, std::uint64_t w, const verdict& v) noexcept {
        if (!counted_.contains(v.kind)) [[likely]] {
            // No clock, no lock; no write at all in a clean window.
            if ((w & clean) == 0) {
                if (unchanged(w))
                    note_success(w);
                else
                    record_locked(w, false, false, false, 0, ctx.now());
            }
        } else {
            record_locked(w, true, false, v.retry_after.has_value(), v.retry_after.has_value() ? v.retry_after->count() : 0,
                          ctx.now());
        }
    }

    // Every other case: admission of an open or half-open breaker, slow-call timing, time windows.
    template <class Context, class Next>
    FAILOVER_ALWAYS_INLINE auto any_call(Context& ctx, Next&& next, std::uint64_t w) -> decltype(next()) {
        using out_t = decltype(next());
        admission a{true, false, w, false, 0};
        if (!fast_counting(w)) [[unlikely]]
            a = admit(w, ctx.now());
        time_point started{};
        if (a.admitted && (mode_ & timed) != 0) started = ctx.coarse_now();
        // One object, built in place and returned by name: a second returned object would
        // make the compilers build the outcome aside and copy it out through a store-forwarding
        // stall (~5 ns per call). Each return of the lambda is a prvalue, so each builds `out`
        // itself (clang moved one arm of a `?:` into it from a temporary). The probe's guard
        // lives in its own branch: alive around the common call, its clean-up path made clang
        // keep the outcome in memory.
        out_t out = [&]() FAILOVER_LAMBDA_ALWAYS_INLINE -> out_t {
            if (a.admitted) [[likely]] {
                if (!a.probe) [[likely]]
                    return next();
                return probe_call<out_t>(next, a.word);
            }
            return out_t(rejection_for(a));
        }();
        if (a.admitted && !out.is_rejection()) [[likely]] {
            const fault kind = out.verdict().kind;
            if (mode_ == 0 && fast_counting(a.word)) [[likely]] {
                record_closed(ctx, a.word, out.verdict());
            } else {
                time_point ended{};
                if (mode_ != 0) ended = ctx.coarse_now();
                const bool slow = (mode_ & timed) != 0 && ended - started > slow_call_duration_;
                if (fast_counting(a.word) && !counted_.contains(kind) && !slow && ((a.word & clean) != 0 || unchanged(a.word))) {
                    if ((a.word & clean) != 0)
                        ;  // a clean window: nothing to write
                    else if ((mode_ & bucketed) == 0)
                        note_success(a.word);
                    else
                        note_success_at(a.word, ended);
                } else {
                    const verdict& v = out.verdict();
                    record_locked(a.word, counted_.contains(kind), slow, v.retry_after.has_value(),
                                  v.retry_after.has_value() ? v.retry_after->count() : 0, ctx.now());
                }
            }
        }
        return out;
    }

    struct admission {
        bool admitted;
        bool probe;
        std::uint64_t word;  // the state word the call was admitted under
        bool has_retry_at;
        std::int64_t retry_at;
    };

    // Releases an admitted probe if the call's outcome is never recorded.
    struct guard {
        circuit_breaker* breaker;
        std::uint64_t word;
        bool armed;
        ~guard() {
            if (armed) breaker->release_locked(word);
        }
    };

    // Modes of the success path: timed (slow-call tracking) and bucketed (time window).
    static constexpr std::uint8_t timed = 1;
    static constexpr std::uint8_t bucketed = 2;
    constexpr bool slow_tracked() const noexcept { return (mode_ & timed) != 0; }
    constexpr bool time_window() const noexcept { return (mode_ & bucketed) != 0; }

    // A probe's call: its place goes back to the breaker if no outcome comes (an exception
    // escapes, or an inner policy refuses).
    template <class Out, class Next>
    FAILOVER_ALWAYS_INLINE Out probe_call(Next& next, std::uint64_t w) {
        guard g{this, w, true};
        Out o = next();
        if (!o.is_rejection()) g.armed = false;
        return o;
    }

    failover::rejection rejection_for(const admission& a) const noexcept {
        failover::rejection r{.reason = rejection_reason::circuit_open, .retry_at = std::nullopt, .source = this};
        if (a.has_retry_at) r.retry_at = time_point(duration(a.retry_at));
        return r;
    }

    static constexpr breaker_state state_of(std::uint64_t w) noexcept { return static_cast<breaker_state>(w & state_mask); }
    static constexpr bool counting(breaker_state s) noexcept {
        return s == breaker_state::closed || s == breaker_state::disabled;
    }
    // Closed or disabled, and a success needs no lock.
    static constexpr bool fast_counting(std::uint64_t w) noexcept { return (w & ~clean & 0xfe) == 0; }
    static constexpr std::uint64_t generation_of(std::uint64_t w) noexcept { return w >> 8; }
    static constexpr std::uint64_t tag_of(std::uint64_t w) noexcept { return (w >> 8) << tag_shift; }
    static constexpr std::uint64_t ppm(double rate) noexcept { return static_cast<std::uint64_t>(rate * 1'000'000.0 + 0.5); }

    // One per thread (see detail::thread_slot): successes counted by the calling thread in the
    // generation named by the tag. Only that thread writes `word` outside the lock.
    struct alignas(64) slot {
        detail::atomic<std::uint64_t> word{0};          // tag << 48 | successes in that generation
        detail::atomic<std::int64_t> bucket_end{INT64_MIN};  // time window: end of `bucket`, ns
        std::int64_t bucket = 0;                        // time window: the bucket it counts in (lock)
        std::uint64_t bucket_base = 0;                  // time window: successes before `bucket` (lock)
        std::uint64_t taken = 0;                        // successes already taken by the lock holder
        std::uint64_t taken_tag = 0;                    // the tag `taken` belongs to
    };

    struct bucket {
        std::int64_t index = INT64_MIN;
        std::uint64_t successes = 0;
        std::uint64_t failures = 0;
        std::uint64_t slow = 0;
        std::uint64_t slow_failures = 0;
    };

    // ---- the success path: a store to the calling thread's own line ----

    // Callers first read the word again (unchanged()): a success admitted before the flag was
    // set (another call's failure came back first) must still be evaluated under the lock, and
    // one admitted before a transition is stale.
    bool unchanged(std::uint64_t w) const noexcept { return word_.load(detail::order::relaxed) == w; }

    FAILOVER_ALWAYS_INLINE void note_success(std::uint64_t w) noexcept {
        slot& s = slots_[detail::thread_slot()];
        const std::uint64_t seen = s.word.load(detail::order::relaxed);
        if ((seen & ~count_mask) == tag_of(w)) [[likely]] {
            s.word.store(seen + 1, detail::order::relaxed);
            // Now and then, bring the counts in: a window that filled with successes (or whose
            // last failure was pushed out) becomes clean, and successes stop writing.
            if (((seen + 1) & 1023) == 0) [[unlikely]]
                refresh_now(w);
        } else {
            note_success_new_tag(s, w);
        }
    }
    FAILOVER_COLD void refresh_now(std::uint64_t w) noexcept {
        detail::lock_guard lock(lock_);
        const std::uint64_t current = word_.load(detail::order::relaxed);
        if (generation_of(current) != generation_of(w) || !counting(state_of(current))) return;
        take_successes(current, time_point{});  // count windows only: no clock needed
        refresh_flag(current);
    }
    FAILOVER_ALWAYS_INLINE void note_success_at(std::uint64_t w, time_point now) noexcept {
        slot& s = slots_[detail::thread_slot()];
        const std::uint64_t seen = s.word.load(detail::order::relaxed);
        if ((seen & ~count_mask) == tag_of(w) && now.time_since_epoch().count() < s.bucket_end.load(detail::order::relaxed)) [[likely]]
            s.word.store(seen + 1, detail::order::relaxed);
        else
            note_success_new_bucket(s, w, now);
    }


    // A thread's first success in a generation: start its count there, unless the call was
    // admitted in an older generation than the one the slot already counts in (stale: dropped).
    FAILOVER_COLD void note_success_new_tag(slot& s, std::uint64_t w) noexcept {
        detail::lock_guard lock(lock_);
        const std::uint64_t current = word_.load(detail::order::relaxed);
        if (generation_of(current) != generation_of(w)) {
            ++stale_;
            return;
        }
        const std::uint64_t seen = s.word.load(detail::order::relaxed);
        if ((seen & ~count_mask) == tag_of(w))
            s.word.store(seen + 1, detail::order::relaxed);
        else
            s.word.store(tag_of(w) | 1, detail::order::relaxed);
    }

    // Time window: the thread's first success in a new bucket (or generation). Under the lock,
    // the successes of its previous bucket go into the shared ring, if still in the window.
    FAILOVER_COLD void note_success_new_bucket(slot& s, std::uint64_t w, time_point now) noexcept {
        detail::lock_guard lock(lock_);
        const std::uint64_t current = word_.load(detail::order::relaxed);
        if (generation_of(current) != generation_of(w)) {
            ++stale_;
            return;
        }
        take_successes(current, now);  // rolls the ring, and this thread's earlier successes end a streak
        streak_ = 0;
        // A reading that lags the ring's head (another thread read the clock later) counts in
        // the head bucket, as failures do.
        const std::int64_t b = bucket_of(now) > head_ ? bucket_of(now) : head_;
        const std::uint64_t seen = s.word.load(detail::order::relaxed);
        std::uint64_t count = 0;
        if ((seen & ~count_mask) == tag_of(w)) {
            count = seen & count_mask;
            if (s.bucket != b) {
                bucket* old = in_ring(s.bucket);
                if (old != nullptr && count > s.bucket_base) {  // a shared slot may go back
                    old->successes += count - s.bucket_base;
                    totals_.successes += count - s.bucket_base;
                }
                s.bucket_base = count;
            }
        } else {
            s.bucket_base = 0;
        }
        s.bucket = b;
        s.bucket_end.store(bucket_end_of(b), detail::order::relaxed);
        s.word.store(tag_of(w) | (count + 1), detail::order::relaxed);
        // The first success of a new bucket: older buckets left the window, so the rate may
        // have risen (or the minimum gone out of reach again). Evaluate as after any record.
        evaluate(current, now, false, 0);
    }

    // ---- everything else, under the lock ----

    admission admit(std::uint64_t w, time_point now) noexcept {
        // Open and not yet due: refuse without the lock.
        if (state_of(w) == breaker_state::open) {
            const std::int64_t until = open_until_.load(detail::order::acquire);
            if (now.time_since_epoch().count() < until && word_.load(detail::order::acquire) == w) {
                rejected_.fetch_add(1, detail::order::relaxed);
                return admission{false, false, w, true, until};
            }
        }
        return admit_locked(now);
    }

    FAILOVER_COLD admission admit_locked(time_point now) noexcept {
        detail::lock_guard lock(lock_);
        std::uint64_t w = word_.load(detail::order::relaxed);
        const std::int64_t t = now.time_since_epoch().count();
        switch (state_of(w)) {
            case breaker_state::closed:
            case breaker_state::disabled: return admission{true, false, w, false, 0};
            case breaker_state::forced_open: break;
            case breaker_state::open:
                if (t < open_until_.load(detail::order::relaxed)) {
                    rejected_.fetch_add(1, detail::order::relaxed);
                    return admission{false, false, w, true, open_until_.load(detail::order::relaxed)};
                }
                transition(breaker_state::half_open, breaker_reason::open_elapsed, now, duration::zero());
                w = word_.load(detail::order::relaxed);
                [[fallthrough]];
            case breaker_state::half_open:
                if (detail::sub_sat(now, time_point(duration(half_open_since_))) >= options_.max_half_open) {
                    trip(breaker_reason::half_open_timeout, now, false, 0);
                    rejected_.fetch_add(1, detail::order::relaxed);
                    return admission{false, false, word_.load(detail::order::relaxed), true, open_until_.load(detail::order::relaxed)};
                }
                if (probes_placed_ < options_.half_open_probes) {
                    ++probes_placed_;
                    return admission{true, true, w, false, 0};
                }
                // Every probe is out: the answer is due any moment, not at a known time.
                rejected_.fetch_add(1, detail::order::relaxed);
                return admission{false, false, w, true, t};
        }
        rejected_.fetch_add(1, detail::order::relaxed);
        return admission{false, false, w, false, 0};
    }

    // A probe whose outcome will never be known hands its place back.
    FAILOVER_COLD void release_locked(std::uint64_t w) noexcept {
        detail::lock_guard lock(lock_);
        const std::uint64_t current = word_.load(detail::order::relaxed);
        if (generation_of(current) == generation_of(w) && state_of(current) == breaker_state::half_open && probes_placed_ > 0)
            --probes_placed_;
    }

    // A failure or a slow call (closed), or any outcome of a probe (half-open).
    FAILOVER_COLD void record_locked(std::uint64_t w, bool failed, bool slow, bool has_retry_after, std::int64_t retry_after,
                                     time_point now) noexcept {
        detail::lock_guard lock(lock_);
        const std::uint64_t current = word_.load(detail::order::relaxed);
        if (generation_of(current) != generation_of(w)) {
            ++stale_;
            return;
        }
        switch (state_of(current)) {
            case breaker_state::closed:
            case breaker_state::disabled: record_counted(current, failed, slow, has_retry_after, retry_after, now); return;
            case breaker_state::half_open:
                if (failed || slow) {
                    if (++probe_failures_ >= options_.failures_to_reopen)
                        trip(breaker_reason::probe_failed, now, has_retry_after, retry_after);
                } else if (++probe_successes_ >= options_.successes_to_close) {
                    transition(breaker_state::closed, breaker_reason::probes_succeeded, now, duration::zero());
                }
                return;
            case breaker_state::open:
            case breaker_state::forced_open: return;  // admitted as closed: caught as stale above
        }
    }

    void record_counted(std::uint64_t w, bool failed, bool slow, bool has_retry_after, std::int64_t retry_after,
                        time_point now) noexcept {
        take_successes(w, now);
        if (!failed)
            streak_ = 0;
        else if (streak_ < UINT_MAX)
            ++streak_;
        switch (options_.window.kind()) {
            case failure_window::type::none:  // the last consecutive_failures outcomes
            case failure_window::type::count: push(failed, slow); break;
            case failure_window::type::time: {
                bucket& b = buckets_[ring_pos(head_)];
                if (failed) {
                    ++b.failures;
                    ++totals_.failures;
                } else {
                    ++b.successes;
                    ++totals_.successes;
                }
                if (slow) {
                    ++b.slow;
                    ++totals_.slow;
                    if (failed) {
                        ++b.slow_failures;
                        ++totals_.slow_failures;
                    }
                }
                break;
            }
        }
        evaluate(w, now, has_retry_after, retry_after);
    }

    void evaluate(std::uint64_t w, time_point now, bool has_retry_after, std::int64_t retry_after) noexcept {
        std::optional<breaker_reason> why;
        if (options_.consecutive_failures > 0 && streak_ >= options_.consecutive_failures)
            why = breaker_reason::consecutive_failures;
        if (!why && options_.window.kind() != failure_window::type::none) {  // the rate rules
            const counts c = window_counts(w);
            const std::uint64_t calls = c.successes + c.failures;
            if (calls >= options_.minimum_calls) {
                if (c.failures * 1'000'000 >= rate_ppm_ * calls)
                    why = breaker_reason::failure_rate;
                else if (slow_tracked() && c.slow * 1'000'000 >= slow_rate_ppm_ * calls)
                    why = breaker_reason::slow_call_rate;
            }
        }
        if (why && state_of(w) == breaker_state::closed) {
            trip(*why, now, has_retry_after, retry_after);
            return;
        }
        if (why && !shadow_told_) {  // disabled: tell once what would have happened
            shadow_told_ = true;
            emit(breaker_state::disabled, breaker_state::disabled, *why, now, duration::zero(), snapshot_locked(w, now));
        }
        refresh_flag(w);
    }

    // Sets or clears the flag that sends successes to the lock (see the state word).
    void refresh_flag(std::uint64_t w) noexcept {
        const counts c = window_counts(w);
        const bool needed = options_.window.kind() != failure_window::type::none && (c.failures > 0 || c.slow > 0) &&
                            c.successes + c.failures < options_.minimum_calls;
        const bool is_clean = ring_ != nullptr && filled_ == ring_size_ && c.failures == 0 && c.slow == 0 && streak_ == 0;
        std::uint64_t next = w & ~(successes_locked | clean);
        if (needed) next |= successes_locked;
        if (is_clean) next |= clean;
        if (next != w) word_.store(next, detail::order::release);
    }

    // To open, from closed or half-open, for the grown open time (or the server's longer one).
    void trip(breaker_reason why, time_point now, bool has_retry_after, std::int64_t retry_after) noexcept {
        // Closed long enough since the last close: the growth is forgotten.
        if (state_of(word_.load(detail::order::relaxed)) == breaker_state::closed &&
            detail::sub_sat(now, time_point(duration(closed_at_))) >= options_.reset_growth_after)
            opens_in_row_ = 0;
        if (opens_in_row_ < 1'000'000) ++opens_in_row_;
        long double d = static_cast<long double>(options_.open_for.count());
        const long double cap = static_cast<long double>(options_.max_open_for.count());
        for (unsigned i = 1; i < opens_in_row_ && d < cap; ++i) d *= options_.open_growth;
        duration open = d >= cap ? options_.max_open_for : duration(static_cast<duration::rep>(d));
        if (options_.open_for_retry_after && has_retry_after && duration(retry_after) > open)
            open = duration(retry_after) < options_.max_open_for ? duration(retry_after) : options_.max_open_for;
        open_until_.store(detail::add_sat(now, open).time_since_epoch().count(), detail::order::relaxed);
        transition(breaker_state::open, why, now, open);
    }

    void transition(breaker_state to, breaker_reason why, time_point now, duration open) noexcept {
        const std::uint64_t w = word_.load(detail::order::relaxed);
        const breaker_state from = state_of(w);
        // The threads' own counts are kept for one generation: bring them into the books
        // before it ends (the open state shows the counts that tripped it; disable() keeps them).
        if (counting(from)) {
            take_successes(w, now);
            absorb_slots(w);
        }
        if (listener_ != nullptr) emit(from, to, why, now, open, snapshot_locked(w, now));
        if (to == breaker_state::closed || (to == breaker_state::disabled && from != breaker_state::closed)) clear_counts();
        if (to == breaker_state::closed) {
            closed_at_ = now.time_since_epoch().count();
            if (options_.reset_growth_after <= duration::zero()) opens_in_row_ = 0;
        }
        if (to == breaker_state::half_open) {
            probes_placed_ = 0;
            probe_successes_ = 0;
            probe_failures_ = 0;
            half_open_since_ = now.time_since_epoch().count();
        }
        shadow_told_ = false;
        publish(((generation_of(w) + 1) << 8) | static_cast<std::uint64_t>(to));
    }

    // Starts a new generation: every slot restarts at zero under the new tag (so a tag that
    // comes round again after 65536 generations finds no old count), then the word changes.
    void publish(std::uint64_t next) noexcept {
        const std::uint64_t tag = tag_of(next);
        for (std::size_t i = 0; i < detail::thread_slots; ++i) {
            slot& s = slots_[i];
            s.word.store(tag, detail::order::relaxed);
            s.bucket_end.store(INT64_MIN, detail::order::relaxed);
            s.bucket_base = 0;
            s.taken = 0;
            s.taken_tag = tag;
        }
        word_.store(next, detail::order::release);
    }

    void manual(breaker_state to, breaker_reason why, time_point now) {
        detail::lock_guard lock(lock_);
        const std::uint64_t w = word_.load(detail::order::relaxed);
        if (state_of(w) == to && to != breaker_state::closed) return;
        if (state_of(w) == breaker_state::closed && to == breaker_state::closed) {
            // A reset of a closed breaker: a fresh window, no event (nothing changed state).
            clear_counts();
            opens_in_row_ = 0;
            publish(((generation_of(w) + 1) << 8) | static_cast<std::uint64_t>(to));
            return;
        }
        if (to == breaker_state::forced_open) open_until_.store(detail::time_max.time_since_epoch().count(), detail::order::relaxed);
        transition(to, why, now, to == breaker_state::forced_open ? duration::max() : duration::zero());
        if (to == breaker_state::closed) opens_in_row_ = 0;  // reset() forgets the growth too
        if (to == breaker_state::disabled) refresh_flag(word_.load(detail::order::relaxed));
    }

    void emit(breaker_state from, breaker_state to, breaker_reason why, time_point now, duration open,
              const breaker_snapshot& snap) noexcept {
        if (listener_ == nullptr) return;
        breaker_event e{.from = from, .to = to, .why = why, .at = now, .open_for = open, .snapshot = snap, .source = this,
                        .name = options_.name};
        listener_(listener_user_, e);
    }

    // ---- counting ----

    struct counts {
        std::uint64_t successes = 0;
        std::uint64_t failures = 0;
        std::uint64_t slow = 0;
        std::uint64_t slow_failures = 0;
    };

    // Moves the successes the threads counted on their own since the last call into the
    // breaker's books (count window, streak, episode). A time window keeps them in the slots,
    // per bucket, and only rolls the ring here.
    void take_successes(std::uint64_t w, time_point now) noexcept {
        const std::uint64_t tag = tag_of(w);
        std::uint64_t fresh = 0;
        for (std::size_t i = 0; i < detail::thread_slots; ++i) {
            slot& s = slots_[i];
            const std::uint64_t seen = s.word.load(detail::order::relaxed);
            if ((seen & ~count_mask) != tag) continue;
            const std::uint64_t count = seen & count_mask;
            const std::uint64_t before = s.taken_tag == tag ? s.taken : 0;
            if (count > before || s.taken_tag != tag) {  // a shared slot can go back: never recount
                fresh += count - (count > before ? before : count);
                s.taken = count;
                s.taken_tag = tag;
            }
        }
        if (fresh > 0) streak_ = 0;
        switch (options_.window.kind()) {
            case failure_window::type::none:
            case failure_window::type::count: push_successes(fresh); break;
            case failure_window::type::time: roll(bucket_of(now)); break;
        }
    }

    // Time window: moves the successes the slots hold for generation `w` into the ring.
    void absorb_slots(std::uint64_t w) noexcept {
        if (!time_window()) return;
        const std::uint64_t tag = tag_of(w);
        for (std::size_t i = 0; i < detail::thread_slots; ++i) {
            slot& s = slots_[i];
            const std::uint64_t seen = s.word.load(detail::order::relaxed);
            if ((seen & ~count_mask) != tag) continue;
            const std::uint64_t count = seen & count_mask;
            if (bucket* b = in_ring(s.bucket); b != nullptr && count > s.bucket_base) {
                b->successes += count - s.bucket_base;
                totals_.successes += count - s.bucket_base;
            }
            s.bucket_base = count;
        }
    }

    counts window_counts(std::uint64_t w) const noexcept {
        switch (options_.window.kind()) {
            case failure_window::type::none:
            case failure_window::type::count: return totals_;
            case failure_window::type::time: {
                counts c = totals_;
                const std::uint64_t tag = tag_of(w);
                for (std::size_t i = 0; i < detail::thread_slots; ++i) {
                    const slot& s = slots_[i];
                    const std::uint64_t seen = s.word.load(detail::order::relaxed);
                    if ((seen & ~count_mask) != tag || !in_window(s.bucket)) continue;
                    const std::uint64_t count = seen & count_mask;
                    if (count > s.bucket_base) c.successes += count - s.bucket_base;
                }
                return c;
            }
        }
        return counts{};
    }

    // Count window: a ring of bits, exactly the last `size` outcomes.
    void push(bool failed, bool slow) noexcept {
        const std::size_t n = ring_size_;
        std::uint64_t& fw = ring_[head_pos_ / 64];
        std::uint64_t& sw = ring_[words_ + head_pos_ / 64];
        const std::uint64_t bit = std::uint64_t{1} << (head_pos_ % 64);
        if (filled_ == n) {
            const bool old_failed = (fw & bit) != 0;
            const bool old_slow = (sw & bit) != 0;
            if (old_failed)
                --totals_.failures;
            else
                --totals_.successes;
            if (old_slow) {
                --totals_.slow;
                if (old_failed) --totals_.slow_failures;
            }
        } else {
            ++filled_;
        }
        fw = failed ? (fw | bit) : (fw & ~bit);
        sw = slow ? (sw | bit) : (sw & ~bit);
        if (failed)
            ++totals_.failures;
        else
            ++totals_.successes;
        if (slow) {
            ++totals_.slow;
            if (failed) ++totals_.slow_failures;
        }
        if (++head_pos_ == n) head_pos_ = 0;
    }
    void push_successes(std::uint64_t k) noexcept {
        const std::size_t n = ring_size_;
        if (k >= n) {
            for (std::size_t i = 0; i < 2 * words_; ++i) ring_[i] = 0;
            totals_ = counts{n, 0, 0, 0};
            filled_ = n;
            head_pos_ = 0;
            return;
        }
        for (std::uint64_t i = 0; i < k; ++i) push(false, false);
    }

    // Time window: buckets by index (time / bucket length); the ring holds the last `buckets`.
    std::int64_t bucket_of(time_point t) const noexcept {  // floor division, for any time
        const std::int64_t ns = t.time_since_epoch().count();
        const std::int64_t q = ns / bucket_ns_;
        return (ns % bucket_ns_ < 0) ? q - 1 : q;
    }
    std::int64_t bucket_end_of(std::int64_t b) const noexcept {
        return b >= INT64_MAX / bucket_ns_ - 1 ? INT64_MAX : (b + 1) * bucket_ns_;
    }
    std::size_t ring_pos(std::int64_t index) const noexcept {
        const std::int64_t n = static_cast<std::int64_t>(options_.window.time().buckets);
        return static_cast<std::size_t>(((index % n) + n) % n);
    }
    bool in_window(std::int64_t index) const noexcept {
        return index <= head_ && index > head_ - static_cast<std::int64_t>(options_.window.time().buckets);
    }
    bucket* in_ring(std::int64_t index) noexcept {
        if (!in_window(index)) return nullptr;
        bucket& b = buckets_[ring_pos(index)];
        return b.index == index ? &b : nullptr;
    }
    // Moves the ring's head to bucket `b`, evicting (and subtracting) what falls out. Never
    // backwards: a thread whose clock reading lags records into the head bucket.
    void roll(std::int64_t b) noexcept {
        if (b <= head_) return;
        const std::int64_t n = static_cast<std::int64_t>(options_.window.time().buckets);
        const std::int64_t first = b - head_ > n ? b - n + 1 : head_ + 1;
        for (std::int64_t i = first; i <= b; ++i) {
            bucket& old = buckets_[ring_pos(i)];
            if (old.index != INT64_MIN) {
                totals_.successes -= old.successes;
                totals_.failures -= old.failures;
                totals_.slow -= old.slow;
                totals_.slow_failures -= old.slow_failures;
            }
            old = bucket{i, 0, 0, 0, 0};
        }
        head_ = b;
    }

    void clear_counts() noexcept {
        streak_ = 0;
        totals_ = counts{};
        filled_ = 0;
        head_pos_ = 0;
        if (ring_ != nullptr)
            for (std::size_t i = 0; i < 2 * words_; ++i) ring_[i] = 0;
        if (buckets_ != nullptr)
            for (std::size_t i = 0; i < options_.window.time().buckets; ++i) buckets_[i] = bucket{};
        head_ = INT64_MIN / 2;
        // The slots count in the old generation; the new one (set by the caller) ignores them.
    }

    breaker_snapshot snapshot_locked(std::uint64_t w, time_point now) const noexcept {
        breaker_snapshot s;
        s.state = state_of(w);
        const counts c = window_counts(w);
        s.calls = c.successes + c.failures;
        s.failures = c.failures;
        s.slow_calls = c.slow;
        s.slow_failures = c.slow_failures;
        s.consecutive_failures = streak_;
        const std::uint64_t minimum =
            options_.window.kind() == failure_window::type::none ? ring_size_ : std::uint64_t{options_.minimum_calls};
        if (s.calls >= minimum && s.calls > 0) {
            s.failure_rate = static_cast<double>(s.failures) / static_cast<double>(s.calls);
            if (slow_tracked()) s.slow_call_rate = static_cast<double>(s.slow_calls) / static_cast<double>(s.calls);
        }
        s.opens_in_row = opens_in_row_;
        if (s.state == breaker_state::half_open) {
            s.probes_placed = probes_placed_;
            s.probe_successes = probe_successes_;
            s.probe_failures = probe_failures_;
        }
        if (s.state == breaker_state::forced_open) {
            s.remaining_open = duration::max();
        } else if (s.state == breaker_state::open) {
            const time_point until{duration(open_until_.load(detail::order::relaxed))};
            s.remaining_open = until > now ? detail::sub_sat(until, now) : duration::zero();
        }
        s.rejected = rejected_.load(detail::order::relaxed);
        s.stale_results = stale_;
        return s;
    }

    // ---- storage ----

    void allocate() {
        slots_ = static_cast<slot*>(::operator new(sizeof(slot) * detail::thread_slots, std::align_val_t{alignof(slot)}));
        for (std::size_t i = 0; i < detail::thread_slots; ++i) ::new (static_cast<void*>(slots_ + i)) slot();
        // A count window; without a window, one over the last consecutive_failures outcomes
        // (at most 1024), for the snapshot and so that a clean one needs no write.
        if (options_.window.kind() != failure_window::type::time) {
            ring_size_ = options_.window.kind() == failure_window::type::count
                             ? options_.window.count().size
                             : (options_.consecutive_failures < 1024 ? options_.consecutive_failures : 1024);
            words_ = (ring_size_ + 63) / 64;
            ring_ = new std::uint64_t[2 * words_]();
        }
        if (options_.window.kind() == failure_window::type::time) {
            bucket_ns_ = (options_.window.time().length / options_.window.time().buckets).count();
            buckets_ = new bucket[options_.window.time().buckets];
        }
        head_ = INT64_MIN / 2;
    }
    void release_storage() noexcept {
        if (slots_ != nullptr) {
            for (std::size_t i = 0; i < detail::thread_slots; ++i) slots_[i].~slot();
            ::operator delete(slots_, std::align_val_t{alignof(slot)});
        }
        delete[] ring_;
        delete[] buckets_;
    }

    // Read on every call; the word changes at transitions and with its two flags, the rest never.
    alignas(64) detail::atomic<std::uint64_t> word_{0};
    slot* slots_ = nullptr;
    duration slow_call_duration_{0};
    fault_set counted_{};
    std::uint8_t mode_ = 0;  // timed | bucketed

    // Written under the lock (and the rejection counter without it).
    alignas(64) detail::small_lock lock_;
    circuit_breaker_options options_;
    detail::atomic<std::int64_t> open_until_{0};
    detail::atomic<std::uint64_t> rejected_{0};
    std::uint64_t rate_ppm_ = 0;
    std::uint64_t slow_rate_ppm_ = 0;
    std::uint64_t stale_ = 0;
    unsigned streak_ = 0;
    unsigned opens_in_row_ = 0;
    unsigned probes_placed_ = 0;
    unsigned probe_successes_ = 0;
    unsigned probe_failures_ = 0;
    std::int64_t half_open_since_ = 0;
    std::int64_t closed_at_ = INT64_MIN;  // when the breaker last closed (INT64_MIN: never opened)
    bool shadow_told_ = false;
    counts totals_{};   // count window: the ring's totals; time window: the ring's flushed totals
    std::uint64_t* ring_ = nullptr;  // count window: failure bits, then slow bits
    std::size_t ring_size_ = 0;
    std::size_t words_ = 0;
    std::size_t filled_ = 0;
    std::size_t head_pos_ = 0;
    bucket* buckets_ = nullptr;      // time window
    std::int64_t bucket_ns_ = 1;
    std::int64_t head_ = 0;          // time window: index of the newest bucket
    void (*listener_)(void*, const breaker_event&) = nullptr;
    void* listener_user_ = nullptr;

};

/// One call's admission, for use without a pipeline. Move-only; record or release it once.
class circuit_breaker::permit {
public:
    permit(permit&& o) noexcept : b_(o.b_), a_(o.a_), open_(o.open_) { o.open_ = false; }
    permit(const permit&) = delete;
    permit& operator=(const permit&) = delete;
    permit& operator=(permit&&) = delete;
    ~permit() { release(); }

    bool admitted() const noexcept { return a_.admitted; }
    explicit operator bool() const noexcept { return a_.admitted; }
    /// True when this call is one of a half-open episode's probes.
    bool is_probe() const noexcept { return a_.probe; }
    /// The breaker's generation when the call was admitted (see circuit_breaker::generation).
    std::uint64_t generation() const noexcept { return generation_of(a_.word); }
    /// Precondition: !admitted().
    failover::rejection rejection() const noexcept { return b_->rejection_for(a_); }

    /// Gives the call's outcome: its verdict, how long it took (for slow-call tracking) and
    /// the time it ended. Once; later calls do nothing.
    void record(const verdict& v, duration took = duration::zero(), time_point now = clock::now()) {
        if (!open_) return;
        open_ = false;
        const bool failed = b_->options_.counted_faults.contains(v.kind);
        const bool slow = b_->slow_tracked() && took > b_->options_.slow_call_duration;
        if (!failed && !slow && fast_counting(a_.word) && ((a_.word & clean) != 0 || b_->unchanged(a_.word))) {
            if ((a_.word & clean) != 0)
                return;
            if (!b_->time_window())
                b_->note_success(a_.word);
            else
                b_->note_success_at(a_.word, now);
            return;
        }
        b_->record_locked(a_.word, failed, slow, v.retry_after.has_value(), v.retry_after ? v.retry_after->count() : 0, now);
    }
    /// The call did not take place, or its outcome says nothing of the endpoint: nothing is
    /// counted, and a probe's place goes back to the breaker.
    void release() noexcept {
        if (!open_) return;
        open_ = false;
        if (a_.probe) b_->release_locked(a_.word);
    }

private:
    friend class circuit_breaker;
    permit(circuit_breaker& b, const admission& a) noexcept : b_(&b), a_(a), open_(a.admitted) {}

    circuit_breaker* b_;
    admission a_;
    bool open_;
};

inline circuit_breaker::permit circuit_breaker::acquire(time_point now) {
    const std::uint64_t w = word_.load(detail::order::acquire);
    if (fast_counting(w)) return permit(*this, admission{true, false, w, false, 0});
    return permit(*this, admit(w, now));
}

}  // namespace failover

#endif  // FAILOVER_CIRCUIT_BREAKER_HPP_INCLUDED
