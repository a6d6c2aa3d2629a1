// failover: the pipeline. Policies composed at compile time around the user's transport.
//
//   auto p = failover::pipeline(outer_policy, ..., inner_policy);
//   failover::result<reply> r = p([&](const failover::attempt& a) { return send(a); });
//
// A call runs the policies outermost first. Each policy sees the call's context and a `next`
// that runs everything inside it; calling `next()` once is one attempt through the inner
// layers, and a policy may call it again (retry), not at all (an open breaker), or after
// choosing where it goes (region selection). The innermost layer calls the transport and
// classifies its result exactly once; every policy reads that one verdict.
#ifndef FAILOVER_PIPELINE_HPP_INCLUDED
#define FAILOVER_PIPELINE_HPP_INCLUDED

#include <failover/classify.hpp>
#include <failover/detail/config.hpp>
#include <failover/errors.hpp>
#include <failover/fault.hpp>
#include <failover/time.hpp>

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <new>
#include <optional>
#include <type_traits>
#include <utility>

namespace failover {

// ---------------------------------------------------------------------------------------------
// rejection, report, attempt

/// Why the pipeline refused a call (or an attempt) without an answer from the transport.
enum class rejection_reason : std::uint8_t {
    circuit_open,          ///< the breaker in front of the endpoint is open
    no_region_available,   ///< every region is open or cooling down
    budget_exhausted,      ///< the shared retry budget denied another attempt
    deadline_exceeded,     ///< the call's deadline passed before an attempt could start
    retry_after_too_long,  ///< the server asked for a wait longer than the caller allows
    refused_by_policy,     ///< a user policy refused (the default for a hand-made rejection)
};

/// The enumerator's name ("circuit_open").
constexpr const char* to_string(rejection_reason r) noexcept {
    switch (r) {
        case rejection_reason::circuit_open: return "circuit_open";
        case rejection_reason::no_region_available: return "no_region_available";
        case rejection_reason::budget_exhausted: return "budget_exhausted";
        case rejection_reason::deadline_exceeded: return "deadline_exceeded";
        case rejection_reason::retry_after_too_long: return "retry_after_too_long";
        case rejection_reason::refused_by_policy: return "refused_by_policy";
    }
    return "unknown";
}

/// A refusal: no transport answer, a reason, and the earliest time a retry could succeed.
struct rejection {
    rejection_reason reason = rejection_reason::refused_by_policy;
    /// Earliest time on `failover::clock` at which a new attempt could succeed; empty when
    /// nothing can be said (a budget, a passed deadline).
    std::optional<time_point> retry_at{};
    /// The component that refused (a breaker, a region's health), for identity comparison only.
    const void* source = nullptr;

    /// How long from `now` until `retry_at` (zero if it has passed); empty when unknown.
    /// Suits a `Retry-After` on the caller's own 503.
    constexpr std::optional<duration> retry_after(time_point now) const noexcept {
        if (!retry_at) return std::nullopt;
        return *retry_at <= now ? duration::zero() : detail::sub_sat(*retry_at, now);
    }
};

/// What one call did: filled in by the pipeline, handed back with the result.
struct call_report {
    /// Transport calls made (attempts that reached the transport).
    unsigned attempts = 0;
    /// Time spent sleeping between attempts, through the pipeline's time source.
    duration waited{0};
};

namespace detail {
template <class T>
struct type_id {
    static constexpr char tag = 0;
};
// `region<const endpoint>()` and `region<endpoint>()` name the same region type.
template <class T>
inline constexpr const void* type_id_of = &type_id<std::remove_cv_t<T>>::tag;
template <class Time>
class call_context;
}  // namespace detail

/// What the transport is handed for one attempt.
class attempt {
public:
    /// 1 for the first attempt of a call, 2 for the first retry, and so on.
    constexpr unsigned number() const noexcept { return number_; }
    constexpr bool is_retry() const noexcept { return number_ > 1; }
    /// The call's deadline; pass it (or time_left()) to the transport's own timeouts.
    constexpr failover::deadline deadline() const noexcept { return deadline_; }
    /// Time left before the deadline when this attempt started; `duration::max()` without one.
    constexpr duration time_left() const noexcept { return time_left_; }

    /// True when a region selector chose a region for this attempt.
    constexpr bool has_region() const noexcept { return region_ != nullptr; }
    /// Index of the chosen region in the selector's range.
    constexpr std::size_t region_index() const noexcept { return region_index_; }
    /// True when this attempt goes to another region than the call's previous attempt or, for
    /// the call's first attempt, than the strategy's first choice (a primary skipped because it
    /// is down). Strategies that look at health themselves (priority_groups, least_latency, a
    /// user strategy) already choose among the healthy regions, so a call's first attempt is
    /// not a failover with them: compare the region with your own preference to count calls
    /// served by a backup.
    constexpr bool is_failover() const noexcept { return failover_; }
    /// The user's own region object (endpoint, credentials, …) chosen for this attempt.
    /// Asking for another type than the regions were given as is a programming error.
    template <class T>
    const T& region() const noexcept {
        if (region_ == nullptr) detail::fatal("attempt::region<T>(): no region was chosen for this attempt");
        if (region_type_ != detail::type_id_of<T>)
            detail::fatal("attempt::region<T>(): T is not the type of the region objects");
        return *static_cast<const T*>(region_);
    }

private:
    template <class Time>
    friend class detail::call_context;

    unsigned number_ = 0;
    bool failover_ = false;
    failover::deadline deadline_{};
    duration time_left_ = duration::max();
    const void* region_ = nullptr;
    const void* region_type_ = nullptr;
    std::size_t region_index_ = 0;
};

// ---------------------------------------------------------------------------------------------
// outcome: one attempt as the policies see it

namespace detail {
struct thrown {
    std::exception_ptr error;
};
struct invoke_t {};

// A tagged union of R and up to two other alternatives, written out instead of std::variant:
// both compilers turned the variant's visitation into jump tables and memory copies on the
// call path (~10 ns per call); plain if-chains on a one-byte tag fold away when inlined.
template <class R, class A, class B>
class tagged {
public:
    // `none` only between destroying one alternative and constructing the next, so that a
    // constructor that throws there leaves nothing for the destructor to destroy twice.
    enum class tag : std::uint8_t { r, a, b, none };

    template <class... Args>
    constexpr tagged(std::in_place_index_t<0>, Args&&... args) : tag_(tag::r) {
        ::new (static_cast<void*>(&u_.r)) R(static_cast<Args&&>(args)...);
    }
    // R constructed from the prvalue `f()` returns: no temporary, no move. The tag is written
    // after the call: written before, it sits in memory across an opaque call, and clang then
    // reloads it to test it (a store, a reload and a test on every call).
    template <class F>
    constexpr tagged(invoke_t, F& f) {
        ::new (static_cast<void*>(&u_.r)) R(f());
        tag_ = tag::r;
    }
    constexpr tagged(std::in_place_index_t<1>, A a) : tag_(tag::a) { ::new (static_cast<void*>(&u_.a)) A(static_cast<A&&>(a)); }
    constexpr tagged(std::in_place_index_t<2>, B b) : tag_(tag::b) { ::new (static_cast<void*>(&u_.b)) B(static_cast<B&&>(b)); }

    tagged(tagged&& o) noexcept(std::is_nothrow_move_constructible_v<R>) : tag_(o.tag_) { take(static_cast<tagged&&>(o)); }
    tagged(const tagged& o) requires std::is_copy_constructible_v<R> : tag_(o.tag_) { copy(o); }
    tagged& operator=(tagged&& o) noexcept(std::is_nothrow_move_constructible_v<R>) {
        if (this != &o) {
            destroy();
            tag_ = tag::none;
            take(static_cast<tagged&&>(o));
            tag_ = o.tag_;
        }
        return *this;
    }
    tagged& operator=(const tagged& o) requires std::is_copy_constructible_v<R> {
        if (this != &o) {
            destroy();
            tag_ = tag::none;
            copy(o);
            tag_ = o.tag_;
        }
        return *this;
    }
    ~tagged() { destroy(); }

    constexpr tag which() const noexcept { return tag_; }
    constexpr R& r() noexcept { return u_.r; }
    constexpr const R& r() const noexcept { return u_.r; }
    constexpr const A& a() const noexcept { return u_.a; }
    constexpr A& a_mut() noexcept { return u_.a; }
    constexpr const B& b() const noexcept { return u_.b; }

private:
    void destroy() noexcept {
        if (tag_ == tag::r) {
            if constexpr (!std::is_trivially_destructible_v<R>) u_.r.~R();
        } else if (tag_ == tag::a) {
            if constexpr (!std::is_trivially_destructible_v<A>) u_.a.~A();
        } else if (tag_ == tag::b) {
            if constexpr (!std::is_trivially_destructible_v<B>) u_.b.~B();
        }
    }
    // Construct from o's alternative (o.tag_), not from this one's.
    void take(tagged&& o) {
        if (o.tag_ == tag::r) ::new (static_cast<void*>(&u_.r)) R(static_cast<R&&>(o.u_.r));
        else if (o.tag_ == tag::a) ::new (static_cast<void*>(&u_.a)) A(static_cast<A&&>(o.u_.a));
        else if (o.tag_ == tag::b) ::new (static_cast<void*>(&u_.b)) B(static_cast<B&&>(o.u_.b));
    }
    void copy(const tagged& o) {
        if (o.tag_ == tag::r) ::new (static_cast<void*>(&u_.r)) R(o.u_.r);
        else if (o.tag_ == tag::a) ::new (static_cast<void*>(&u_.a)) A(o.u_.a);
        else if (o.tag_ == tag::b) ::new (static_cast<void*>(&u_.b)) B(o.u_.b);
    }

    union storage {
        constexpr storage() noexcept {}
        ~storage() {}
        R r;
        A a;
        B b;
    } u_;
    tag tag_;
};

struct nothing {};

// Copies a verdict field by field. A whole-struct copy becomes one 16-byte load of bytes just
// written one field at a time, which the processor cannot forward from its store buffer: a
// stall of a dozen cycles, several times per call when outcomes are moved between layers.
constexpr void copy_verdict(verdict& to, const verdict& from) noexcept {
    to.kind = from.kind;
    to.no_retry = from.no_retry;
    if (from.retry_after.has_value())
        to.retry_after.emplace(*from.retry_after);
    else
        to.retry_after.reset();
}

#if FAILOVER_HAS_EXCEPTIONS
// Out of line and cold: copying an exception_ptr on the call path would stop it inlining.
// Takes the exception_ptr's raw value rather than a reference into the outcome: a reference
// would let the outcome's address escape, and clang then keeps every outcome in memory.
[[noreturn]] FAILOVER_COLD inline void rethrow(std::exception_ptr e) { std::rethrow_exception(static_cast<std::exception_ptr&&>(e)); }
#endif
}  // namespace detail

/// One pass through the inner layers, as `next()` returns it to a policy: the transport's
/// value with its verdict, an exception with its verdict, or a rejection (no attempt made).
template <class R>
class outcome {
    using storage = detail::tagged<R, detail::thrown, failover::rejection>;

public:
    using value_type = R;

    /// A transport value and its verdict.
    constexpr outcome(R value, failover::verdict v) : state_(std::in_place_index<0>, static_cast<R&&>(value)), verdict_(v) {}
    /// A refusal: no transport call took place.
    constexpr outcome(failover::rejection r) : state_(std::in_place_index<2>, r) {}
    // The pipeline's own: the transport's value constructed in place from `call()`, then
    // classified where it lives.
    template <class F, class C>
    constexpr outcome(detail::invoke_t, F& call, C& classifier, fault& last_fault)
        : state_(detail::invoke_t{}, call), verdict_(classifier(state_.r())) {
        last_fault = verdict_.kind;
    }
    /// An exception thrown by the transport, and its verdict.
    outcome(detail::thrown t, failover::verdict v) : state_(std::in_place_index<1>, static_cast<detail::thrown&&>(t)), verdict_(v) {}

    outcome(outcome&& o) noexcept(std::is_nothrow_move_constructible_v<R>) : state_(static_cast<storage&&>(o.state_)) {
        detail::copy_verdict(verdict_, o.verdict_);
    }
    outcome(const outcome& o) requires std::is_copy_constructible_v<R> : state_(o.state_) { detail::copy_verdict(verdict_, o.verdict_); }
    outcome& operator=(outcome&& o) noexcept(std::is_nothrow_move_constructible_v<R>) {
        state_ = static_cast<storage&&>(o.state_);
        detail::copy_verdict(verdict_, o.verdict_);
        return *this;
    }
    outcome& operator=(const outcome& o) requires std::is_copy_constructible_v<R> {
        state_ = o.state_;
        detail::copy_verdict(verdict_, o.verdict_);
        return *this;
    }

    /// True when a transport call took place (a value or an exception came back).
    constexpr bool attempted() const noexcept { return state_.which() != storage::tag::b; }
    constexpr bool has_value() const noexcept { return state_.which() == storage::tag::r; }
    constexpr bool has_exception() const noexcept { return state_.which() == storage::tag::a; }
    constexpr bool is_rejection() const noexcept { return state_.which() == storage::tag::b; }
    /// The transport answered and its verdict is success.
    constexpr bool ok() const noexcept { return has_value() && verdict_.ok(); }

    /// The attempt's verdict. Meaningless for a rejection (no attempt): check is_rejection() first.
    constexpr const failover::verdict& verdict() const noexcept { return verdict_; }
    /// The transport's value. Precondition: has_value().
    constexpr R& value() & noexcept { return state_.r(); }
    constexpr const R& value() const& noexcept { return state_.r(); }
    constexpr R&& value() && noexcept { return static_cast<R&&>(state_.r()); }
    /// The exception the transport threw. Precondition: has_exception().
    const std::exception_ptr& exception() const noexcept { return state_.a().error; }
    /// Moves the exception out (the outcome keeps an empty one). Precondition: has_exception().
    std::exception_ptr take_exception() && noexcept { return static_cast<std::exception_ptr&&>(state_.a_mut().error); }
    /// The refusal. Precondition: is_rejection().
    constexpr const failover::rejection& rejection() const noexcept { return state_.b(); }

private:
    storage state_;
    failover::verdict verdict_{};
};

// ---------------------------------------------------------------------------------------------
// result: what a call returns

/// What a call returns: the last attempt's value (even a failed one, so a 503 body can be
/// read) or a rejection, the last attempt's verdict, and a short report.
/// If the last attempt threw, the call rethrows that exception instead of returning.
template <class R>
class result {
    using storage = detail::tagged<R, failover::rejection, detail::nothing>;

public:
    using value_type = R;

    constexpr result(const R& value, const failover::verdict& v, const call_report& report) requires std::is_copy_constructible_v<R>
        : state_(std::in_place_index<0>, value), report_{report.attempts, report.waited} {
        detail::copy_verdict(verdict_, v);
    }
    constexpr result(R&& value, const failover::verdict& v, const call_report& report)
        : state_(std::in_place_index<0>, static_cast<R&&>(value)), report_{report.attempts, report.waited} {
        detail::copy_verdict(verdict_, v);
    }
    constexpr result(const failover::rejection& r, const failover::verdict& last, const call_report& report)
        : state_(std::in_place_index<1>, r), report_{report.attempts, report.waited} {
        detail::copy_verdict(verdict_, last);
    }

    /// The transport answered and the answer is a success.
    constexpr bool ok() const noexcept { return has_value() && verdict_.ok(); }
    /// There is a transport value (successful or not).
    constexpr bool has_value() const noexcept { return state_.which() == storage::tag::r; }
    /// The call was refused before a transport answer could be had (see rejection()).
    constexpr bool is_rejection() const noexcept { return state_.which() == storage::tag::a; }

    constexpr R& value() & { return *checked(); }
    constexpr const R& value() const& { return *checked(); }
    constexpr R&& value() && { return static_cast<R&&>(*checked()); }
    constexpr R& operator*() & { return *checked(); }
    constexpr const R& operator*() const& { return *checked(); }
    constexpr R* operator->() { return checked(); }
    constexpr const R* operator->() const { return checked(); }

    /// The refusal. Precondition: is_rejection().
    constexpr const failover::rejection& rejection() const noexcept {
        if (!is_rejection()) detail::fatal("result::rejection(): the call was not rejected");
        return state_.a();
    }
    /// The verdict of the last attempt. For a rejected call, only the fault of the last attempt
    /// made (`none` when no attempt was made: check ok() or is_rejection() first).
    constexpr const failover::verdict& verdict() const noexcept { return verdict_; }
    constexpr const call_report& report() const noexcept { return report_; }

private:
    constexpr R* checked() {
        if (has_value()) return &state_.r();
        detail::throw_bad_result_access("result::value(): the call was rejected; there is no value");
    }
    constexpr const R* checked() const {
        if (has_value()) return &state_.r();
        detail::throw_bad_result_access("result::value(): the call was rejected; there is no value");
    }

    storage state_;
    failover::verdict verdict_{};
    call_report report_{};
};

// ---------------------------------------------------------------------------------------------
// the call context: per-call state on the caller's stack

namespace detail {

/// What every policy sees of the call in progress. One per call, on the caller's stack; never
/// shared between threads.
template <class Time>
class call_context {
public:
    constexpr call_context(Time& time, failover::deadline d) noexcept : time_(time) { attempt_.deadline_ = d; }
    call_context(const call_context&) = delete;
    call_context& operator=(const call_context&) = delete;

    /// Now, on the pipeline's time source.
    time_point now() { return time_.now(); }
    /// Now at the time source's coarse resolution, when it has one (see system_time::coarse_now).
    time_point coarse_now() { return detail::coarse_now(time_); }
    /// Sleeps through the pipeline's time source and counts the time in the report.
    /// A negative or zero `d` returns at once.
    void sleep_for(duration d) {
        if (d <= duration::zero()) return;
        time_.sleep_for(d);
        report_.waited = add_sat(report_.waited, d);
    }
    constexpr failover::deadline deadline() const noexcept { return attempt_.deadline_; }
    /// Transport calls made so far in this call.
    constexpr unsigned attempts() const noexcept { return report_.attempts; }
    /// Time slept so far in this call.
    constexpr duration waited() const noexcept { return report_.waited; }
    constexpr const call_report& report() const noexcept { return report_; }
    /// The attempt the transport will see next (its number is set when it starts).
    constexpr const failover::attempt& next_attempt() const noexcept { return attempt_; }

    /// Sends the next attempt to `region` (element `index` of a selector's range).
    /// `failover` tells the transport this attempt moved away from the previous one's region.
    template <class T>
    constexpr void route_to(const T& region, std::size_t index, bool failover) noexcept {
        attempt_.region_ = &region;
        attempt_.region_type_ = type_id_of<T>;
        attempt_.region_index_ = index;
        attempt_.failover_ = failover;
    }

    /// Says the next attempt can start at once: a region selector has another region ready,
    /// so an outer retry need not wait (its backoff, or the failed region's Retry-After).
    constexpr void reroute_now() noexcept { reroute_ = true; }
    /// Reads and clears the reroute_now() mark.
    constexpr bool take_reroute() noexcept {
        const bool r = reroute_;
        reroute_ = false;
        return r;
    }

    /// Starts an attempt: false (and no attempt counted) when the deadline has passed.
    /// Reads the clock only when the call has a deadline.
    bool begin_attempt() {
        if (!attempt_.deadline_.is_none()) {
            const duration left = attempt_.deadline_.remaining(time_.now());
            if (left <= duration::zero()) return false;
            attempt_.time_left_ = left;
        }
        ++attempt_.number_;
        ++report_.attempts;
        return true;
    }
    // Only the fault of the last attempt is kept for the call (a one-byte store): copying the
    // whole verdict here on every attempt made the compiler spill it through memory and cost
    // ~12 ns per call. A rejection carries its own time; this says what the attempts met.
    constexpr fault& last_fault_slot() noexcept { return last_fault_; }
    constexpr fault last_fault() const noexcept { return last_fault_; }

private:
    Time& time_;
    failover::attempt attempt_{};
    call_report report_{};
    fault last_fault_ = fault::none;
    bool reroute_ = false;
};

}  // namespace detail

/// The context type policies receive: `context<Time>&` where `Time` is the pipeline's time source.
template <class Time>
using context = detail::call_context<Time>;

// ---------------------------------------------------------------------------------------------
// the policy concept

namespace detail {

struct archetype_value {};
struct archetype_time {
    time_point now() { return {}; }
    void sleep_for(duration) {}
};
struct archetype_next {
    outcome<archetype_value> operator()() const { return outcome<archetype_value>{archetype_value{}, verdict{}}; }
};

template <class P>
concept has_call_state = requires { typename P::call_state; };

template <class P>
struct call_state_of {
    struct type {};
};
template <has_call_state P>
struct call_state_of<P> {
    using type = typename P::call_state;
};

}  // namespace detail

/// A layer of the pipeline. A policy is an object with a member template
///
///     template <class Context, class Next>
///     auto run(Context& ctx, Next&& next) -> decltype(next());
///
/// that returns what `next()` returned (or an outcome of its own, e.g. a rejection). `ctx` is
/// the call's context (time, sleep, deadline, report, routing); `next()` runs the inner layers
/// once and returns an `outcome<R>`. A policy that needs state for the length of one call
/// (across the attempts that pass through it) names it `call_state`; the pipeline then makes
/// one per call, value-initialised, and calls `run(ctx, state, next)`.
///
/// One policy object serves every thread that calls the pipeline: `run` must be thread-safe.
template <class P>
concept policy =
    std::move_constructible<P> &&
    (requires(P& p, detail::call_context<detail::archetype_time>& ctx, detail::archetype_next next) {
        { p.run(ctx, next) } -> std::same_as<outcome<detail::archetype_value>>;
    } ||
     requires(P& p, detail::call_context<detail::archetype_time>& ctx, typename detail::call_state_of<P>::type& state,
              detail::archetype_next next) {
         { p.run(ctx, state, next) } -> std::same_as<outcome<detail::archetype_value>>;
     });

/// A policy used by reference, so that several pipelines can share one object (a breaker in
/// front of one endpoint, a retry budget). The referenced policy must outlive the pipelines.
template <class P>
class policy_ref {
public:
    using call_state = typename detail::call_state_of<P>::type;

    constexpr explicit policy_ref(P& p) noexcept : p_(&p) {}
    constexpr P& get() const noexcept { return *p_; }

    template <class Context, class Next>
    FAILOVER_ALWAYS_INLINE auto run(Context& ctx, call_state& state, Next&& next) {
        if constexpr (detail::has_call_state<P>)
            return p_->run(ctx, state, static_cast<Next&&>(next));
        else
            return p_->run(ctx, static_cast<Next&&>(next));
    }

private:
    P* p_;
};

/// Puts `p` in a pipeline by reference instead of by value: `pipeline(failover::ref(breaker))`.
template <class P>
constexpr policy_ref<P> ref(P& p) noexcept {
    return policy_ref<P>(p);
}

// ---------------------------------------------------------------------------------------------
// classifiers and transports

namespace detail {

/// The default classifier: failover::classify for values, classify_exception for exceptions.
struct default_classifier {
    template <class R>
    constexpr verdict operator()(const R& r) const {
        return failover::classify(r);
    }
    verdict operator()(const std::exception_ptr& e) const noexcept { return failover::classify_exception(e); }
};

template <class C>
verdict classify_thrown(C& c, const std::exception_ptr& e) {
    if constexpr (std::is_invocable_r_v<verdict, C&, const std::exception_ptr&>)
        return c(e);
    else
        return failover::classify_exception(e);
}

template <class T>
constexpr bool takes_attempt = std::is_invocable_v<T&, const attempt&>;

template <class T>
struct transport_result {
    // An error here means the transport is neither callable as `t(const failover::attempt&)`
    // nor as `t()`.
    static_assert(std::is_invocable_v<T&, const attempt&> || std::is_invocable_v<T&>,
                  "failover: a transport is callable as `R(const failover::attempt&)` or `R()`");
    using type = std::remove_cvref_t<
        typename std::conditional_t<takes_attempt<T>, std::invoke_result<T&, const attempt&>, std::invoke_result<T&>>::type>;
};

template <class T, class R>
R call_transport(T& t, const attempt& a) {
    if constexpr (takes_attempt<T>)
        return t(a);
    else
        return t();
}

template <class Time>
struct time_holder {  // by value: stateless or owned time sources
    [[no_unique_address]] Time time;
    Time& get() noexcept { return time; }
};
template <class Time>
struct time_holder<Time&> {  // by reference: a clock the test (or other pipelines) also use
    Time* time;
    Time& get() noexcept { return *time; }
};

// The policies, stored head first; [[no_unique_address]] keeps empty policies free.
template <class... Ps>
struct policy_list {};
template <class P, class... Rest>
struct policy_list<P, Rest...> {
    constexpr explicit policy_list(P&& p, Rest&&... rest)
        : head(static_cast<P&&>(p)), tail(static_cast<Rest&&>(rest)...) {}

    [[no_unique_address]] P head;
    [[no_unique_address]] policy_list<Rest...> tail;
};

template <class... Ps>
struct state_list {};
template <class P, class... Rest>
struct state_list<P, Rest...> {
    [[no_unique_address]] typename call_state_of<P>::type head{};
    [[no_unique_address]] state_list<Rest...> tail{};
};

template <std::size_t I, class... Ps>
constexpr auto& get_policy(policy_list<Ps...>& l) noexcept {
    if constexpr (I == 0)
        return l.head;
    else
        return get_policy<I - 1>(l.tail);
}

}  // namespace detail

// ---------------------------------------------------------------------------------------------
// the pipeline

/// Policies composed at compile time around a transport, outermost first, with one time
/// source and one classifier. Build it with `failover::pipeline(...)`. The same object
/// serves every thread; its call operator is thread-safe when its policies are (all of the
/// library's are).
template <class Time, class Classifier, class... Ps>
class basic_pipeline {
public:
    static_assert(time_source<std::remove_reference_t<Time>>,
                  "failover: the time source needs `failover::time_point now()` and `sleep_for(failover::duration)`");
    static_assert((policy<Ps> && ...),
                  "failover: every pipeline argument must be a policy: an object with "
                  "`template <class Ctx, class Next> auto run(Ctx&, Next&&)` (see the `failover::policy` concept)");

    constexpr explicit basic_pipeline(detail::time_holder<Time> time, Classifier classifier, detail::policy_list<Ps...> policies)
        : time_(static_cast<detail::time_holder<Time>&&>(time)),
          classifier_(static_cast<Classifier&&>(classifier)),
          policies_(static_cast<detail::policy_list<Ps...>&&>(policies)) {}

    /// Runs `transport` through the policies with no deadline.
    template <class Transport>
    FAILOVER_ALWAYS_INLINE auto operator()(Transport&& transport) {
        return call(transport, failover::deadline::none());
    }
    /// Runs `transport` with a deadline for the whole call (every attempt and sleep).
    template <class Transport>
    FAILOVER_ALWAYS_INLINE auto operator()(Transport&& transport, failover::deadline d) {
        return call(transport, d);
    }
    /// Runs `transport` with a time limit for the whole call, from now on the pipeline's clock.
    template <class Transport, class Rep, class Period>
    FAILOVER_ALWAYS_INLINE auto operator()(Transport&& transport, std::chrono::duration<Rep, Period> timeout) {
        return call(transport, failover::deadline::after(time_.get().now(), timeout));
    }

    /// The same pipeline reading time from `t`: an lvalue is used by reference (a
    /// testing::manual_clock shared with the test), an rvalue is moved in.
    template <class NewTime>
    auto with_time(NewTime&& t) && {
        using holder_t = std::conditional_t<std::is_lvalue_reference_v<NewTime>, NewTime, std::remove_cvref_t<NewTime>>;
        detail::time_holder<holder_t> holder = make_holder<holder_t>(static_cast<NewTime&&>(t));
        return basic_pipeline<holder_t, Classifier, Ps...>(static_cast<detail::time_holder<holder_t>&&>(holder),
                                                           static_cast<Classifier&&>(classifier_),
                                                           static_cast<detail::policy_list<Ps...>&&>(policies_));
    }

    /// The same pipeline classifying results with `c` instead of `failover::classify`:
    /// `c(const R&) -> verdict`, and optionally `c(const std::exception_ptr&) -> verdict` for
    /// exceptions thrown by the transport.
    template <class C>
    auto classify_with(C c) && {
        return basic_pipeline<Time, C, Ps...>(static_cast<detail::time_holder<Time>&&>(time_), static_cast<C&&>(c),
                                              static_cast<detail::policy_list<Ps...>&&>(policies_));
    }

    /// The I-th policy (0 = outermost), e.g. to read a breaker's state.
    template <std::size_t I>
    constexpr auto& get() noexcept {
        return detail::get_policy<I>(policies_);
    }
    /// The pipeline's time source.
    constexpr auto& time() noexcept { return time_.get(); }

private:
    template <class Time2, class C2, class... Ps2>
    friend class basic_pipeline;

    template <class H, class T>
    static detail::time_holder<H> make_holder(T&& t) {
        if constexpr (std::is_lvalue_reference_v<H>)
            return detail::time_holder<H>{&t};
        else
            return detail::time_holder<H>{static_cast<T&&>(t)};
    }

    using time_type = std::remove_reference_t<Time>;

    template <class Transport>
    FAILOVER_ALWAYS_INLINE auto call(Transport& transport, failover::deadline d) {
        using R = typename detail::transport_result<Transport>::type;
        static_assert(!std::is_void_v<R>,
                      "failover: the transport returns void; return a value the library can classify "
                      "(a status, a std::error_code, a verdict, or your own type with failover_classify)");
        static_assert(std::is_invocable_r_v<verdict, Classifier&, const R&>,
                      "failover cannot classify the transport's result type: write "
                      "`failover::verdict failover_classify(const YourResult&)` in the namespace of "
                      "YourResult (it is found by ADL), or give the pipeline a classifier with `.classify_with(fn)`");

        detail::call_context<time_type> ctx(time_.get(), d);
        detail::state_list<Ps...> states{};
        auto innermost = [&]() FAILOVER_LAMBDA_ALWAYS_INLINE -> outcome<R> { return attempt_once<R>(ctx, transport); };
        outcome<R> out = run_from<0>(ctx, policies_, states, innermost);
        // The report is rebuilt from its fields: copying the context's struct whole reloads, in
        // one wide load, fields just written by narrow stores (a store-forwarding stall).
        const call_report report{ctx.attempts(), ctx.waited()};
        if (out.has_value()) return result<R>(static_cast<outcome<R>&&>(out).value(), out.verdict(), report);
        if (out.is_rejection()) return result<R>(out.rejection(), verdict{.kind = ctx.last_fault()}, report);
#if FAILOVER_HAS_EXCEPTIONS
        detail::rethrow(static_cast<outcome<R>&&>(out).take_exception());
#else
        detail::fatal("unreachable: an exception outcome in a build without exceptions");
#endif
    }

    template <class R, class Transport>
    FAILOVER_ALWAYS_INLINE outcome<R> attempt_once(detail::call_context<time_type>& ctx, Transport& transport) {
        if (!ctx.begin_attempt())
            return outcome<R>(rejection{.reason = rejection_reason::deadline_exceeded});
        // The transport's value is constructed straight into the outcome and classified where it
        // lives: an intermediate (std::optional<R>, a by-value parameter) was stored field by
        // field and reloaded whole, a store-forwarding stall that cost ~10 ns per call. A
        // classifier that throws is therefore treated like a transport that throws.
        auto call = [&]() FAILOVER_LAMBDA_ALWAYS_INLINE -> R {
            return detail::call_transport<Transport, R>(transport, ctx.next_attempt());
        };
        // Every return is a prvalue, so the outcome is built in the caller's object (a named
        // local returned on one path and a temporary on another would be moved, R and all).
#if FAILOVER_HAS_EXCEPTIONS
        try {
            return outcome<R>(detail::invoke_t{}, call, classifier_, ctx.last_fault_slot());
        } catch (...) {
            return caught<R>(ctx);
        }
#else
        return outcome<R>(detail::invoke_t{}, call, classifier_, ctx.last_fault_slot());
#endif
    }

#if FAILOVER_HAS_EXCEPTIONS
    // The exception path, out of line and cold so the happy path stays small enough to inline.
    // Called from inside the catch handler, where current_exception() is the one in flight.
    template <class R>
    FAILOVER_COLD outcome<R> caught(detail::call_context<time_type>& ctx) {
        std::exception_ptr e = std::current_exception();
        const verdict v = detail::classify_thrown(classifier_, e);
        ctx.last_fault_slot() = v.kind;
        return outcome<R>(detail::thrown{static_cast<std::exception_ptr&&>(e)}, v);
    }
#endif

    template <std::size_t I, class Ctx, class... Qs, class... Ss, class Inner>
    FAILOVER_ALWAYS_INLINE static auto run_from(Ctx& ctx, detail::policy_list<Qs...>& ps, detail::state_list<Ss...>& ss, Inner& inner) {
        if constexpr (sizeof...(Qs) == 0) {
            return inner();
        } else {
            auto next = [&]() FAILOVER_LAMBDA_ALWAYS_INLINE { return run_from<I + 1>(ctx, ps.tail, ss.tail, inner); };
            using P = std::remove_reference_t<decltype(ps.head)>;
            if constexpr (detail::has_call_state<P>)
                return ps.head.run(ctx, ss.head, next);
            else
                return ps.head.run(ctx, next);
        }
    }

    [[no_unique_address]] detail::time_holder<Time> time_;
    [[no_unique_address]] Classifier classifier_;
    [[no_unique_address]] detail::policy_list<Ps...> policies_;
};

/// Composes `policies` (outermost first) into a pipeline on the real clock with the default
/// classifier. With no policies it calls the transport once and classifies the result.
template <class... Ps>
constexpr auto pipeline(Ps... policies) {
    return basic_pipeline<system_time, detail::default_classifier, Ps...>(
        detail::time_holder<system_time>{}, detail::default_classifier{},
        detail::policy_list<Ps...>(static_cast<Ps&&>(policies)...));
}

}  // namespace failover

#endif  // FAILOVER_PIPELINE_HPP_INCLUDED
