// failover: the vocabulary. What went wrong with one attempt (fault), sets of faults, and the
// classification of one attempt (verdict).
#ifndef FAILOVER_FAULT_HPP_INCLUDED
#define FAILOVER_FAULT_HPP_INCLUDED

#include <failover/detail/config.hpp>
#include <failover/time.hpp>

#include <cstdint>
#include <initializer_list>
#include <optional>

namespace failover {

/// What went wrong with one attempt, whatever the transport.
enum class fault : std::uint8_t {
    none,         ///< the attempt succeeded (2xx)
    timeout,      ///< no answer in time (connect/read timeout, 408)
    connection,   ///< could not reach the region (refused, DNS, unreachable, TLS handshake)
    reset,        ///< the exchange broke midway (ECONNRESET, EPIPE, unexpected EOF)
    unavailable,  ///< the region answered that it cannot serve (500, 502, 503, 504)
    throttled,    ///< the region asked the caller to slow down (429)
    rejected,     ///< the request itself is wrong; another try cannot help (other 4xx, 501)
};

/// Number of enumerators in `fault`.
inline constexpr unsigned fault_count = 7;

/// The enumerator's name ("timeout"), for logs and test output.
constexpr const char* to_string(fault f) noexcept {
    switch (f) {
        case fault::none: return "none";
        case fault::timeout: return "timeout";
        case fault::connection: return "connection";
        case fault::reset: return "reset";
        case fault::unavailable: return "unavailable";
        case fault::throttled: return "throttled";
        case fault::rejected: return "rejected";
    }
    return "unknown";
}

/// A set of faults, usable in constant expressions: `fault_set{fault::timeout, fault::reset}`.
class fault_set {
public:
    constexpr fault_set() noexcept = default;
    constexpr fault_set(std::initializer_list<fault> faults) noexcept {
        for (fault f : faults) bits_ = static_cast<std::uint8_t>(bits_ | bit(f));
    }

    constexpr bool contains(fault f) const noexcept { return (bits_ & bit(f)) != 0; }
    constexpr bool empty() const noexcept { return bits_ == 0; }
    constexpr unsigned size() const noexcept { return static_cast<unsigned>(__builtin_popcount(bits_)); }

    constexpr fault_set& insert(fault f) noexcept { bits_ = static_cast<std::uint8_t>(bits_ | bit(f)); return *this; }
    constexpr fault_set& erase(fault f) noexcept { bits_ = static_cast<std::uint8_t>(bits_ & ~bit(f)); return *this; }

    friend constexpr fault_set operator|(fault_set a, fault_set b) noexcept { return from_bits(a.bits_ | b.bits_); }
    friend constexpr fault_set operator&(fault_set a, fault_set b) noexcept { return from_bits(a.bits_ & b.bits_); }
    /// The faults in `a` that are not in `b`.
    friend constexpr fault_set operator-(fault_set a, fault_set b) noexcept { return from_bits(a.bits_ & ~b.bits_); }
    friend constexpr bool operator==(fault_set, fault_set) noexcept = default;

    /// Every fault, `none` included.
    static constexpr fault_set all() noexcept { return from_bits((1u << fault_count) - 1u); }

private:
    static constexpr std::uint8_t bit(fault f) noexcept { return static_cast<std::uint8_t>(1u << static_cast<unsigned>(f)); }
    static constexpr fault_set from_bits(unsigned bits) noexcept {
        fault_set s;
        s.bits_ = static_cast<std::uint8_t>(bits);
        return s;
    }

    std::uint8_t bits_ = 0;
};

constexpr fault_set operator|(fault a, fault b) noexcept { return fault_set{a, b}; }
constexpr fault_set operator|(fault_set a, fault b) noexcept { return a | fault_set{b}; }

/// Faults another attempt may cure: everything but `none` and `rejected`. The retry default.
inline constexpr fault_set transient_faults{fault::timeout, fault::connection, fault::reset,
                                            fault::unavailable, fault::throttled};

/// Faults that say the region itself is unwell: what a circuit breaker counts by default.
/// `throttled` is left out (the region works but wants less traffic: a cool-down, not an
/// outage) and so is `rejected` (a 400 comes from a healthy region).
inline constexpr fault_set region_faults{fault::timeout, fault::connection, fault::reset,
                                         fault::unavailable};

/// The classification of one attempt. Region health (did the region work?) and retryability
/// (may we try again?) are kept apart: a `rejected` 400 is a healthy region that must not be
/// retried; a 503 is an unhealthy region that may be.
struct verdict {
    /// What went wrong, `none` for success.
    fault kind = fault::none;
    /// Server-directed delay (Retry-After, retry-after-ms): never negative when set.
    std::optional<duration> retry_after{};
    /// Forbids another attempt whatever the fault (a stream that already reached the caller,
    /// `x-should-retry: false`). Health accounting still sees `kind`.
    bool no_retry = false;

    constexpr bool ok() const noexcept { return kind == fault::none; }
    constexpr bool failed() const noexcept { return kind != fault::none; }
    /// True when `kind` is in `retry_on` and nothing forbids another attempt.
    constexpr bool retryable(fault_set retry_on = transient_faults) const noexcept {
        return !no_retry && kind != fault::none && retry_on.contains(kind);
    }

    friend constexpr bool operator==(const verdict&, const verdict&) noexcept = default;
};

/// A successful attempt.
inline constexpr verdict success{};

}  // namespace failover

#endif  // FAILOVER_FAULT_HPP_INCLUDED
