// failover: the region selector. It holds a circuit breaker and a throttle cool-down per
// region of the user's own range, picks the region of each attempt by a strategy, sends the
// next attempt of a call elsewhere after a region-health fault or a throttle, and refuses at
// once, with the earliest time a region comes back, when none can serve.
#ifndef FAILOVER_REGIONS_HPP_INCLUDED
#define FAILOVER_REGIONS_HPP_INCLUDED

#include <failover/circuit_breaker.hpp>
#include <failover/detail/atomic.hpp>
#include <failover/detail/config.hpp>
#include <failover/detail/thread_slot.hpp>
#include <failover/errors.hpp>
#include <failover/fault.hpp>
#include <failover/pipeline.hpp>
#include <failover/time.hpp>

#include <chrono>
#include <climits>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <iterator>
#include <new>
#include <optional>
#include <type_traits>

namespace failover {

/// The most regions one selector holds.
inline constexpr std::size_t max_regions = 64;

/// Active/passive: every call goes to the first healthy region in the range's order (the
/// primary first, backups after it), and back to the primary once its probe succeeds.
struct by_priority_t {};
inline constexpr by_priority_t by_priority{};

/// Active/active in turn: each thread's calls rotate over the healthy regions.
struct round_robin_t {};
inline constexpr round_robin_t round_robin{};

/// Active/active in proportions: `failover::weighted{9, 1}` sends 90 % of the calls to the
/// first region and 10 % to the second, and a region that is down gives its share to the
/// others in proportion. The split is exact over each run of sum-of-weights calls on a thread.
class weighted {
public:
    constexpr weighted(std::initializer_list<unsigned> weights) {
        for (unsigned w : weights) {
            if (count_ == max_regions) detail::throw_config_error("weighted: more weights than failover::max_regions (64)");
            weights_[count_++] = w;
        }
    }
    constexpr std::size_t size() const noexcept { return count_; }
    constexpr unsigned operator[](std::size_t i) const noexcept { return weights_[i]; }

private:
    unsigned weights_[max_regions] = {};
    std::size_t count_ = 0;
};

/// What a strategy sees of the regions when it picks a call's first region: no clock is read.
class region_view {
public:
    virtual ~region_view() = default;
    /// Number of regions.
    virtual std::size_t size() const noexcept = 0;
    /// Closed (or disabled) and not cooling down: takes calls without any question.
    virtual bool healthy(std::size_t i) const noexcept = 0;
    /// The region's latency estimate (an average of recent successful or timed-out attempts),
    /// when the strategy asks for latencies to be measured (`static constexpr bool
    /// measures_latency`).
    virtual std::optional<duration> latency(std::size_t i) const noexcept = 0;
    /// A number that grows by one per call on each thread, for strategies that take turns
    /// (each selector counts its own calls).
    virtual std::uint64_t turn() const noexcept = 0;
};

/// A user strategy: `std::size_t first_choice(const region_view&)` returns the region a call
/// tries first (it may be unhealthy: the selector then moves on). `healthy(i)` is true for a
/// region that can take an attempt now, an open one whose probe is due included. After a fault, the call goes
/// on to the other regions in index order from that one, skipping unhealthy and tried ones.
/// Called by every thread at once: any state it keeps must be thread-safe. The selector takes
/// it by value and moves it in: it must be move-constructible (hold an atomic through a
/// pointer, or give the type a move constructor, as least_latency does).
template <class S>
concept region_strategy = requires(S& s, const region_view& v) {
    { s.first_choice(v) } -> std::convertible_to<std::size_t>;
};

/// The fastest region: the lowest latency estimate among the healthy regions, kept while it is
/// within `tolerance` (a share) or `margin` of the fastest, so traffic does not chase noise.
/// A healthy region not measured yet is tried first, so that each one is measured. Measures
/// every attempt with two coarse clock reads.
class least_latency {
public:
    static constexpr bool measures_latency = true;
    double tolerance = 0.2;
    duration margin = std::chrono::milliseconds(20);

    least_latency() = default;
    least_latency(double tol, duration m) : tolerance(tol), margin(m) {}
    least_latency(const least_latency& o) noexcept : tolerance(o.tolerance), margin(o.margin) {
        leader_.store(o.leader_.load(detail::order::relaxed), detail::order::relaxed);
    }
    least_latency& operator=(const least_latency&) = delete;

    std::size_t first_choice(const region_view& v) noexcept {
        std::size_t best = SIZE_MAX;
        duration best_latency = duration::max();
        for (std::size_t i = 0; i < v.size(); ++i)
            if (v.healthy(i) && !v.latency(i)) return i;  // not measured yet: measure it
        for (std::size_t i = 0; i < v.size(); ++i) {
            if (!v.healthy(i)) continue;
            const duration l = *v.latency(i);
            if (l < best_latency) {
                best = i;
                best_latency = l;
            }
        }
        if (best == SIZE_MAX) return 0;  // none healthy: the selector looks further
        const std::size_t leader = leader_.load(detail::order::relaxed);
        if (leader < v.size() && v.healthy(leader)) {
            const duration l = v.latency(leader).value_or(duration::zero());
            const auto band = static_cast<duration::rep>(static_cast<double>(best_latency.count()) * (1.0 + tolerance));
            if (l.count() <= band || l - best_latency <= margin) return leader;
        }
        leader_.store(best, detail::order::relaxed);
        return best;
    }

private:
    detail::atomic<std::size_t> leader_{0};
};

/// Priorities with weights: `failover::priority_groups{{0, 3}, {0, 1}, {1, 1}}` gives each
/// region (in the range's order) a priority (lower first) and a weight. Calls go to the best
/// priority that has a healthy region, shared by weight among its healthy regions. List the
/// regions by priority: after a fault a call moves on in index order.
class priority_groups {
public:
    struct group {
        unsigned priority = 0;
        unsigned weight = 1;
    };
    constexpr priority_groups(std::initializer_list<group> groups) : priority_groups(groups.begin(), groups.end()) {}
    /// From any range of groups known only at run time (read from a configuration file).
    template <std::input_iterator It, std::sentinel_for<It> End>
        requires std::convertible_to<std::iter_reference_t<It>, group>
    constexpr priority_groups(It first, End last) {
        for (; first != last; ++first) {
            if (count_ == max_regions) detail::throw_config_error("priority_groups: more entries than failover::max_regions (64)");
            groups_[count_++] = *first;
        }
    }
    constexpr std::size_t size() const noexcept { return count_; }
    constexpr unsigned weight(std::size_t i) const noexcept { return groups_[i].weight; }

    std::size_t first_choice(const region_view& v) const noexcept {
        unsigned best = UINT_MAX;
        unsigned total = 0;
        const std::size_t n = v.size() < count_ ? v.size() : count_;
        for (std::size_t i = 0; i < n; ++i) {
            if (!v.healthy(i) || groups_[i].weight == 0) continue;
            if (groups_[i].priority < best) {
                best = groups_[i].priority;
                total = 0;
            }
            if (groups_[i].priority == best) total += groups_[i].weight;
        }
        if (total == 0) {
            // No healthy region may take calls: name the first that may (a weight-0 region
            // never does), and let the selector move on from there or refuse.
            for (std::size_t i = 0; i < n; ++i)
                if (groups_[i].weight > 0) return i;
            return 0;
        }
        std::uint64_t k = v.turn() % total;
        for (std::size_t i = 0; i < n; ++i) {
            if (!v.healthy(i) || groups_[i].weight == 0 || groups_[i].priority != best) continue;
            if (k < groups_[i].weight) return i;
            k -= groups_[i].weight;
        }
        return 0;
    }

private:
    group groups_[max_regions] = {};
    std::size_t count_ = 0;
};

/// What to do when no region can take a call (every breaker open, every region cooling down).
enum class when_all_down : std::uint8_t {
    reject,          ///< refuse at once with the earliest time a region comes back (default)
    try_least_bad,   ///< call the region that comes back soonest anyway, bypassing its breaker
};

/// Options of the selector itself; each region's breaker takes circuit_breaker_options.
struct regions_options {
    /// A throttled region (429) cools down for its retry_after, at most this long. Default 5 min.
    duration max_cooldown = std::chrono::minutes(5);
    /// ... and for this long when the answer named no time. Default 1 s.
    duration default_cooldown = std::chrono::seconds(1);
    /// Attempts a call may make in the same region after a transient fault before it moves
    /// on (the BCDR advice: retry a single fault in place, redirect a persistent one). Default 0.
    unsigned retry_in_region = 0;
    /// No region can serve: refuse (default) or try the least bad one.
    when_all_down all_down = when_all_down::reject;

    constexpr void validate() const {
        if (max_cooldown < duration::zero())
            detail::throw_config_error(detail::config_message("regions_options.max_cooldown must be >= 0 ns").got(max_cooldown.count()));
        if (default_cooldown < duration::zero() || default_cooldown > max_cooldown)
            detail::throw_config_error(detail::config_message("regions_options.default_cooldown must be in [0, max_cooldown], in ns")
                                           .got(default_cooldown.count()));
        if (static_cast<unsigned>(all_down) > static_cast<unsigned>(when_all_down::try_least_bad))
            detail::throw_config_error("regions_options.all_down must be reject or try_least_bad");
    }
};

/// One region as the selector sees it.
struct region_snapshot {
    std::size_t index = 0;
    breaker_snapshot health{};
    /// Time left in a throttle cool-down; zero when none.
    duration cooldown_left{0};
    /// Average latency of recent successful attempts, when the strategy measures latency.
    std::optional<duration> latency{};
};

/// The region selector over the user's range of region objects (endpoint, deployment,
/// credentials: any type). The range is referenced, not copied, and must outlive the selector
/// and keep its elements in place. The transport reaches the chosen element through
/// `attempt::region<T>()`.
///
/// Within one call (with an outer retry providing the attempts): a region-health fault or a
/// throttle sends the next attempt to a region not yet tried in this call, at once, with no
/// wait, when one is available; a region whose breaker is open, or that cools down after a
/// throttle, is skipped without spending an attempt; with no untried region left, the retry
/// backs off and the call may come back to a tried one. A verdict with `no_retry` (a stream
/// that already reached the caller) is recorded against the region but never re-routed.
template <class Range, class Strategy = by_priority_t>
class regions {
    static_assert(std::is_same_v<Strategy, by_priority_t> || std::is_same_v<Strategy, round_robin_t> ||
                      std::is_same_v<Strategy, weighted> || region_strategy<Strategy>,
                  "failover: a region strategy is by_priority, round_robin, weighted{...}, least_latency{}, "
                  "priority_groups{...}, or a type with `std::size_t first_choice(const failover::region_view&)`");
    using element_t = std::remove_reference_t<decltype(*std::begin(std::declval<Range&>()))>;
    static constexpr std::uint16_t none = 0xffff;

public:
    /// Per call: the regions tried, the last one, and the attempts made in it.
    struct call_state {
        std::uint64_t tried = 0;
        std::uint64_t turn = 0;        // this call's turn (strategies that take turns)
        std::uint16_t last = none;     // the region last routed to
        std::uint16_t prev = none;     // the region of the call's previous attempt
        std::uint16_t in_region = 0;
        bool has_turn = false;
    };

    regions(Range& range, Strategy strategy = {}, const circuit_breaker_options& breaker = {},
            const regions_options& options = {})
        : range_(&range), strategy_(static_cast<Strategy&&>(strategy)), options_(options) {
        options_.validate();
        count_ = static_cast<std::size_t>(std::distance(std::begin(range), std::end(range)));
        if (count_ < 1 || count_ > max_regions)
            detail::throw_config_error(detail::config_message("regions: the range must hold 1 to 64 regions").got(static_cast<long long>(count_)));
        if constexpr (std::is_same_v<Strategy, weighted>) {
            if (strategy_.size() != count_)
                detail::throw_config_error(detail::config_message("weighted: one weight per region")
                                               .got_both(static_cast<long long>(strategy_.size()), static_cast<long long>(count_)));
            for (std::size_t i = 0; i < count_; ++i) total_weight_ += strategy_[i];
            if (total_weight_ == 0) detail::throw_config_error("weighted: at least one weight must be > 0");
        }
        if constexpr (std::is_same_v<Strategy, priority_groups>) {
            if (strategy_.size() != count_)
                detail::throw_config_error(detail::config_message("priority_groups: one entry per region")
                                               .got_both(static_cast<long long>(strategy_.size()), static_cast<long long>(count_)));
        }
        if constexpr (std::is_same_v<Strategy, least_latency>) {
            if (!(strategy_.tolerance >= 0.0 && strategy_.tolerance <= 100.0) || strategy_.margin < duration::zero())
                detail::throw_config_error(detail::config_message("least_latency: tolerance must be in [0, 100] and margin >= 0")
                                               .got_real(strategy_.tolerance));
        }
        breaker.validate();
        state_ = static_cast<region_state*>(::operator new(sizeof(region_state) * count_, std::align_val_t{alignof(region_state)}));
        std::size_t built = 0;
#if FAILOVER_HAS_EXCEPTIONS
        try {
#endif
            for (; built < count_; ++built) ::new (static_cast<void*>(state_ + built)) region_state(breaker);
#if FAILOVER_HAS_EXCEPTIONS
        } catch (...) {
            destroy(built);
            throw;
        }
#endif
        auto it = std::begin(range);
        for (std::size_t i = 0; i < count_; ++i, ++it) element_[i] = &*it;
        if constexpr (!std::is_same_v<Strategy, by_priority_t>) {
            turns_ = static_cast<turn_slot*>(::operator new(sizeof(turn_slot) * detail::thread_slots, std::align_val_t{alignof(turn_slot)}));
            for (std::size_t i = 0; i < detail::thread_slots; ++i) ::new (static_cast<void*>(turns_ + i)) turn_slot();
        }
    }
    /// Moves a selector no thread uses yet (so that a pipeline can hold it by value).
    regions(regions&& o) noexcept
        : range_(o.range_), strategy_(static_cast<Strategy&&>(o.strategy_)), options_(o.options_), state_(o.state_),
          count_(o.count_), total_weight_(o.total_weight_), turns_(o.turns_) {
        for (std::size_t i = 0; i < count_; ++i) element_[i] = o.element_[i];
        o.state_ = nullptr;
        o.turns_ = nullptr;
        o.count_ = 0;
    }
    regions(const regions&) = delete;
    regions& operator=(const regions&) = delete;
    regions& operator=(regions&&) = delete;
    ~regions() { destroy(count_); }

    std::size_t size() const noexcept { return count_; }
    /// The breaker of region `i`, to read, listen to, or force open for a drill.
    circuit_breaker& breaker(std::size_t i) noexcept { return state_[i].breaker; }

    /// Region `i` now: its health and its cool-down.
    region_snapshot snapshot(std::size_t i, time_point now = clock::now()) {
        region_snapshot s;
        s.index = i;
        s.health = state_[i].breaker.snapshot(now);
        const std::int64_t until = state_[i].cooldown_until.load(detail::order::relaxed);
        s.cooldown_left = until > now.time_since_epoch().count() ? duration(until - now.time_since_epoch().count()) : duration::zero();
        s.latency = latency_of(i);
        return s;
    }

    // -----------------------------------------------------------------------------------------
    // The pipeline policy

    template <class Context, class Next>
    FAILOVER_ALWAYS_INLINE auto run(Context& ctx, call_state& call, Next&& next) -> decltype(next()) {
        using out_t = decltype(next());
        if constexpr (!std::is_same_v<Strategy, by_priority_t>) {
            if (!call.has_turn) {  // one turn per call, not per attempt
                call.turn = next_turn();
                call.has_turn = true;
            }
        }
        const std::size_t preferred = first_choice(ctx, call.turn);
        std::uint64_t refused = 0;  // regions whose breaker refused during this attempt
        // Only scalars cross into the out-of-line helpers: an address of the call's context
        // or state escaping there keeps them in memory on the common path too.
        auto pick_and_call = [&]() FAILOVER_LAMBDA_ALWAYS_INLINE -> out_t {
            // The common case: the first attempt of a call, the preferred region's breaker on
            // its closed path and no cool-down. No clock read, and the breaker is handed the
            // state word read here instead of reading it again. (A closed breaker whose results
            // go to its lock for now, while its window holds failures but too few calls, takes
            // the way below: one more clock read per call in that passing state, for a happy
            // path that knows the breaker needs no admission.)
            if (call.last == none && refused == 0) [[likely]] {
                // The cool-down first: read after the word's acquire load, the region's address
                // would be loaded again.
                region_state& r = state_[preferred];
                const std::int64_t cooling = r.cooldown_until.load(detail::order::relaxed);
                const std::uint64_t w = r.breaker.load_word();
                if (circuit_breaker::takes_calls_plainly(w) && cooling == 0) [[likely]] {
                    route(ctx, call, preferred, preferred);
                    return r.breaker.run_with_word(ctx, next, w);
                }
            }
            const std::size_t i = choose(call.tried, call.prev, call.in_region, preferred, refused, call.turn, ctx.now());
            if (i != none) [[likely]] {
                route(ctx, call, i, preferred);
                circuit_breaker& b = state_[i].breaker;
                return b.run_with_word(ctx, next, b.load_word());
            }
            if (options_.all_down == when_all_down::try_least_bad) {
                if (const std::size_t j = least_bad(ctx.now()); j != none) {
                    route(ctx, call, j, preferred);
                    return next();  // around the breaker, which would refuse
                }
            }
            return out_t(all_down_rejection(ctx.now()));
        };
        // Every return of the lambda is a prvalue and `out` is the one named result, so the
        // outcome is built in place on the common path (see circuit_breaker::run).
        time_point started{};
        if constexpr (measures) started = ctx.coarse_now();
        out_t out = pick_and_call();
        // The chosen region's breaker refused (it opened meanwhile, or its probes are out):
        // another region, without an attempt spent. Each region is refused once at most.
        while (out.is_rejection() && call.last != none && out.rejection().source == &state_[call.last].breaker) [[unlikely]] {
            refused |= std::uint64_t{1} << call.last;
            out = pick_and_call();
        }
        if constexpr (measures) {
            // Successes and timeouts say how fast a region is; a fast refusal does not.
            if (out.attempted() && call.last != none && (out.verdict().ok() || out.verdict().kind == fault::timeout))
                note_latency(call.last, ctx.coarse_now() - started);
        }
        if (out.attempted() && call.last != none) {
            call.prev = call.last;
            const verdict& v = out.verdict();
            if (v.kind != fault::none && v.kind != fault::rejected && !v.no_retry) [[unlikely]] {
                const moved m = after(call.tried, refused, call.last, call.in_region, v.kind, v.retry_after.has_value(),
                                      v.retry_after.has_value() ? v.retry_after->count() : 0, ctx.now());
                call.tried = m.tried;
                call.in_region = m.in_region;
                if (m.reroute) ctx.reroute_now();
            }
        }
        return out;
    }

private:
    static constexpr bool measures = [] {
        if constexpr (requires { Strategy::measures_latency; })
            return static_cast<bool>(Strategy::measures_latency);
        else
            return false;
    }();

    struct alignas(64) region_state {
        explicit region_state(const circuit_breaker_options& o) : breaker(o) {}
        circuit_breaker breaker;
        detail::atomic<std::int64_t> cooldown_until{0};  // ns on failover::clock; 0 = none
        detail::atomic<std::int64_t> latency_ns{-1};      // moving average; -1 = not measured
    };

    // The view strategies are given: the regions' health without a clock, and latencies.
    class view final : public region_view {
    public:
        view(const regions& r, std::uint64_t turn, bool all_plain, time_point now) noexcept
            : r_(r), turn_(turn), all_plain_(all_plain), now_(now) {}
        std::size_t size() const noexcept override { return r_.count_; }
        bool healthy(std::size_t i) const noexcept override {
            if (i >= r_.count_) return false;
            if (all_plain_ || r_.plainly_available(i)) return true;
            return r_.can_serve(i, now_);
        }
        std::optional<duration> latency(std::size_t i) const noexcept override { return r_.latency_of(i); }
        std::uint64_t turn() const noexcept override { return turn_; }

    private:
        const regions& r_;
        std::uint64_t turn_;
        bool all_plain_;
        time_point now_;
    };
    struct alignas(64) turn_slot {
        detail::atomic<std::uint64_t> n{0};
    };
    // This selector's calls on the calling thread, counted in a line of the thread's own.
    std::uint64_t next_turn() noexcept {
        detail::atomic<std::uint64_t>& n = turns_[detail::thread_slot()].n;
        const std::uint64_t v = n.load(detail::order::relaxed);
        n.store(v + 1, detail::order::relaxed);
        return v;
    }
    // Takes calls at all: a weighted or grouped region of weight zero does not.
    bool eligible(std::size_t i) const noexcept {
        if constexpr (std::is_same_v<Strategy, weighted>)
            return strategy_[i] > 0;
        else if constexpr (std::is_same_v<Strategy, priority_groups>)
            return strategy_.weight(i) > 0;
        else
            return true;
    }

    std::optional<duration> latency_of(std::size_t i) const noexcept {
        const std::int64_t l = state_[i].latency_ns.load(detail::order::relaxed);
        if (l < 0) return std::nullopt;
        return duration(l);
    }
    // An exponentially weighted moving average (1/8 per sample). Two threads updating at once
    // may lose one sample; the estimate stays an average of real ones.
    void note_latency(std::size_t i, duration sample) noexcept {
        const std::int64_t s = sample.count() < 0 ? 0 : sample.count();
        const std::int64_t old = state_[i].latency_ns.load(detail::order::relaxed);
        state_[i].latency_ns.store(old < 0 ? s : old + (s - old) / 8, detail::order::relaxed);
    }
    struct moved {
        std::uint64_t tried;
        std::uint16_t in_region;
        bool reroute;
    };

    void destroy(std::size_t built) noexcept {
        if (turns_ != nullptr) {
            for (std::size_t i = 0; i < detail::thread_slots; ++i) turns_[i].~turn_slot();
            ::operator delete(turns_, std::align_val_t{alignof(turn_slot)});
            turns_ = nullptr;
        }
        if (state_ == nullptr) return;
        for (std::size_t i = 0; i < built; ++i) state_[i].~region_state();
        ::operator delete(state_, std::align_val_t{alignof(region_state)});
        state_ = nullptr;
    }

    template <class Context>
    FAILOVER_ALWAYS_INLINE void route(Context& ctx, call_state& call, std::size_t i, std::size_t preferred) noexcept {
        // A failover: another region than the call's previous attempt, or, for its first
        // attempt, than the strategy's first choice (a primary skipped because it is down).
        const bool moved_away = call.prev == none ? i != preferred : i != call.prev;
        if (call.last != i) call.in_region = 0;
        call.last = static_cast<std::uint16_t>(i);
        ctx.route_to(*element_[i], i, moved_away);
    }

    // The strategy's first choice for this call.
    template <class Context>
    std::size_t first_choice(Context& ctx, std::uint64_t turn) noexcept {
        if constexpr (std::is_same_v<Strategy, by_priority_t>) {
            return 0;
        } else if constexpr (std::is_same_v<Strategy, round_robin_t>) {
            return static_cast<std::size_t>(turn % count_);
        } else if constexpr (region_strategy<Strategy>) {
            // The view reads the clock only when some region is in trouble.
            bool all_plain = true;
            for (std::size_t i = 0; i < count_ && all_plain; ++i) all_plain = plainly_available(i);
            const time_point now = all_plain ? time_point{} : ctx.coarse_now();
            const std::size_t i = static_cast<std::size_t>(strategy_.first_choice(view(*this, turn, all_plain, now)));
            return i < count_ ? i : 0;
        } else {
            std::uint64_t k = turn % total_weight_;
            for (std::size_t i = 0; i < count_; ++i) {
                if (k < strategy_[i]) return i;
                k -= strategy_[i];
            }
            return 0;
        }
    }
    // A breaker in this state lets every call through.
    static constexpr bool admits_all(breaker_state s) noexcept {
        return s == breaker_state::closed || s == breaker_state::disabled;
    }
    // Closed (or disabled) and not cooling down: can serve, and no clock is needed to say so.
    FAILOVER_ALWAYS_INLINE bool plainly_available(std::size_t i) const noexcept {
        return admits_all(state_[i].breaker.state()) && state_[i].cooldown_until.load(detail::order::relaxed) == 0;
    }

    // Can region i take an attempt at `now`? (No side effect, for the strategies' view.)
    bool can_serve(std::size_t i, time_point now) const noexcept {
        const region_state& r = state_[i];
        const std::int64_t cool = r.cooldown_until.load(detail::order::relaxed);
        if (cool != 0 && now.time_since_epoch().count() < cool) return false;
        const breaker_state s = r.breaker.state();
        if (admits_all(s) || s == breaker_state::half_open) return true;
        if (s == breaker_state::open) return r.breaker.remaining_open(now) == duration::zero();
        return false;  // forced open
    }
    // can_serve, and a cool-down that is over is cleared on the way, so that the common path
    // needs no clock for this region again.
    bool available(std::size_t i, time_point now) noexcept {
        std::int64_t cool = state_[i].cooldown_until.load(detail::order::relaxed);
        if (cool != 0 && now.time_since_epoch().count() >= cool)
            state_[i].cooldown_until.compare_exchange_strong(cool, 0, detail::order::relaxed);
        return can_serve(i, now);
    }

    // The region for the next attempt: the call's current region while in-place retries are
    // left; otherwise the preferred one when it can serve and was not tried; otherwise the
    // strategy's order among the untried ones; otherwise any that can serve (the call comes
    // back to a tried region after a backoff); `none` when no region can serve.
    FAILOVER_COLD std::size_t choose(std::uint64_t tried, std::uint16_t prev, std::uint16_t in_region, std::size_t preferred,
                                     std::uint64_t refused, std::uint64_t turn, time_point now) noexcept {
        if (prev != none && in_region > 0 && (refused & (std::uint64_t{1} << prev)) == 0 && available(prev, now)) return prev;
        if (((tried | refused) & (std::uint64_t{1} << preferred)) == 0 && eligible(preferred) && available(preferred, now))
            return preferred;
        return choose_among(tried, refused, preferred, turn, now);
    }
    std::size_t choose_among(std::uint64_t tried, std::uint64_t skip, std::size_t preferred, std::uint64_t turn,
                             time_point now) noexcept {
        for (int pass = 0; pass < 2; ++pass) {
            const std::uint64_t avoid = (pass == 0 ? tried : 0) | skip;
            auto candidate = [&](std::size_t i) {
                return (avoid & (std::uint64_t{1} << i)) == 0 && eligible(i) && available(i, now);
            };
            if constexpr (std::is_same_v<Strategy, weighted>) {
                // Among the candidates, in proportion to their weights, with the call's turn.
                unsigned total = 0;
                for (std::size_t i = 0; i < count_; ++i)
                    if (candidate(i)) total += strategy_[i];
                if (total > 0) {
                    std::uint64_t k = turn % total;
                    for (std::size_t i = 0; i < count_; ++i) {
                        if (!candidate(i)) continue;
                        if (k < strategy_[i]) return i;
                        k -= strategy_[i];
                    }
                }
            } else if constexpr (std::is_same_v<Strategy, round_robin_t>) {
                // In turn among the candidates.
                std::size_t n = 0;
                for (std::size_t i = 0; i < count_; ++i) n += candidate(i);
                if (n > 0) {
                    std::uint64_t k = turn % n;
                    for (std::size_t i = 0; i < count_; ++i) {
                        if (!candidate(i)) continue;
                        if (k-- == 0) return i;
                    }
                }
            } else {
                // In order from the preferred one (by_priority: from the primary).
                for (std::size_t n = 0; n < count_; ++n) {
                    const std::size_t i = (preferred + n) % count_;
                    if (candidate(i)) return i;
                }
            }
        }
        return none;
    }

    // After a failed attempt in region i: a throttle starts its cool-down; a fault that can
    // move marks the region tried, and says whether another region is ready for the next
    // attempt at once.
    FAILOVER_COLD moved after(std::uint64_t tried, std::uint64_t refused, std::size_t i, std::uint16_t in_region, fault kind,
                              bool has_retry_after, std::int64_t retry_after, time_point now) noexcept {
        if (kind == fault::throttled) {
            duration d = has_retry_after ? duration(retry_after) : options_.default_cooldown;
            if (d > options_.max_cooldown) d = options_.max_cooldown;
            const std::int64_t until = detail::add_sat(now, d).time_since_epoch().count();
            std::int64_t seen = state_[i].cooldown_until.load(detail::order::relaxed);
            while (seen < until && !state_[i].cooldown_until.compare_exchange_weak(seen, until, detail::order::relaxed)) {
            }
        } else if (in_region < options_.retry_in_region &&
                   admits_all(state_[i].breaker.state())) {
            return moved{tried, static_cast<std::uint16_t>(in_region + 1), false};  // retry this single fault in place
        }
        tried |= std::uint64_t{1} << i;
        // Ready at once: an untried region that takes calls without question (closed, not
        // cooling, not just refused). A region due for a probe, or half-open, is left to the
        // retry's usual pace: sending the next attempt at once there could bounce straight
        // back to this one.
        bool ready = false;
        for (std::size_t j = 0; j < count_ && !ready; ++j)
            ready = ((tried | refused) & (std::uint64_t{1} << j)) == 0 && eligible(j) && plainly_available(j);
        return moved{tried, 0, ready};
    }

    // The region that comes back soonest (for try_least_bad); never one forced open.
    FAILOVER_COLD std::size_t least_bad(time_point now) noexcept {
        std::size_t best = none;
        std::int64_t best_at = INT64_MAX;
        for (std::size_t i = 0; i < count_; ++i) {
            if (!eligible(i)) continue;
            const std::int64_t at = back_at(i, now);
            if (at < best_at) {
                best_at = at;
                best = i;
            }
        }
        return best;
    }
    // When region i can serve again, in ns on failover::clock (INT64_MAX: not known).
    std::int64_t back_at(std::size_t i, time_point now) noexcept {
        const std::int64_t cool = state_[i].cooldown_until.load(detail::order::relaxed);
        const duration open = state_[i].breaker.remaining_open(now);
        if (open == duration::max()) return INT64_MAX;
        std::int64_t at = detail::add_sat(now, open).time_since_epoch().count();
        if (cool > at) at = cool;
        return at;
    }
    FAILOVER_COLD failover::rejection all_down_rejection(time_point now) noexcept {
        std::int64_t earliest = INT64_MAX;
        for (std::size_t i = 0; i < count_; ++i) {
            if (!eligible(i)) continue;
            const std::int64_t at = back_at(i, now);
            if (at < earliest) earliest = at;
        }
        failover::rejection r{.reason = rejection_reason::no_region_available, .retry_at = std::nullopt, .source = this};
        if (earliest != INT64_MAX) r.retry_at = time_point(duration(earliest));
        return r;
    }

    Range* range_;
    Strategy strategy_;
    regions_options options_;
    region_state* state_ = nullptr;
    std::size_t count_ = 0;
    std::uint64_t total_weight_ = 0;
    turn_slot* turns_ = nullptr;  // per-thread call counters (every strategy but by_priority)
    const element_t* element_[max_regions] = {};
};

template <class Range, class Strategy>
regions(Range&, Strategy) -> regions<Range, Strategy>;
template <class Range, class Strategy>
regions(Range&, Strategy, const circuit_breaker_options&) -> regions<Range, Strategy>;
template <class Range, class Strategy>
regions(Range&, Strategy, const circuit_breaker_options&, const regions_options&) -> regions<Range, Strategy>;
template <class Range>
regions(Range&) -> regions<Range, by_priority_t>;

}  // namespace failover

#endif  // FAILOVER_REGIONS_HPP_INCLUDED
