// failover: the classify customization point. Turns a transport's result into a verdict.
#ifndef FAILOVER_CLASSIFY_HPP_INCLUDED
#define FAILOVER_CLASSIFY_HPP_INCLUDED

#include <failover/detail/config.hpp>
#include <failover/fault.hpp>

#include <cerrno>
#include <concepts>
#include <exception>
#include <system_error>
#include <type_traits>

namespace failover {

/// The verdict for an error code. Codes whose portable condition is a POSIX errno are
/// mapped as below; every other code (another library's category) is `rejected`, since the
/// library cannot know it is transient: classify such codes in your own `failover_classify`.
///
/// | fault        | std::errc                                                            |
/// |--------------|----------------------------------------------------------------------|
/// | none         | no error (value 0)                                                   |
/// | timeout      | timed_out, stream_timeout, operation_would_block / resource_unavailable_try_again (a socket receive timeout reports EAGAIN) |
/// | connection   | connection_refused, host_unreachable, network_unreachable, network_down, no_link, address_not_available |
/// | reset        | connection_reset, connection_aborted, broken_pipe, network_reset, not_connected, protocol_error |
/// | rejected + no_retry | operation_canceled, interrupted (the caller stopped the call) |
/// | rejected     | anything else (permission_denied, message_size, invalid_argument, …) |
inline verdict classify_error_code(const std::error_code& ec) noexcept {
    if (!ec) return verdict{};
    const std::error_condition cond = ec.default_error_condition();
    if (cond.category() != std::generic_category()) return verdict{.kind = fault::rejected};
    switch (static_cast<std::errc>(cond.value())) {
        case std::errc::timed_out:
        case std::errc::stream_timeout:
        case std::errc::resource_unavailable_try_again:
#if EAGAIN != EWOULDBLOCK
        case std::errc::operation_would_block:
#endif
            return verdict{.kind = fault::timeout};
        case std::errc::connection_refused:
        case std::errc::host_unreachable:
        case std::errc::network_unreachable:
        case std::errc::network_down:
        case std::errc::no_link:
        case std::errc::address_not_available:
            return verdict{.kind = fault::connection};
        case std::errc::connection_reset:
        case std::errc::connection_aborted:
        case std::errc::broken_pipe:
        case std::errc::network_reset:
        case std::errc::not_connected:
        case std::errc::protocol_error:
            return verdict{.kind = fault::reset};
        case std::errc::operation_canceled:
        case std::errc::interrupted:
            return verdict{.kind = fault::rejected, .no_retry = true};
        default:
            return verdict{.kind = fault::rejected};
    }
}

namespace detail {

// Poison pill: ordinary lookup from here finds this deleted overload and stops, so a
// `failover_classify` can only come from the result type's own namespace (ADL).
void failover_classify() = delete;

template <class R>
concept has_adl_classify = requires(const R& r) {
    { failover_classify(r) } -> std::convertible_to<verdict>;
};

template <class R>
concept builtin_classifiable =
    std::same_as<R, verdict> || std::same_as<R, std::error_code> || std::same_as<R, std::errc> ||
    std::derived_from<R, std::system_error>;

template <class>
inline constexpr bool always_false = false;

struct classify_fn {
    template <class R>
    constexpr verdict operator()(const R& r) const {
        if constexpr (has_adl_classify<R>) {
            return failover_classify(r);
        } else if constexpr (std::same_as<R, verdict>) {
            return r;
        } else if constexpr (std::same_as<R, std::error_code>) {
            return classify_error_code(r);
        } else if constexpr (std::same_as<R, std::errc>) {
            return classify_error_code(std::make_error_code(r));
        } else if constexpr (std::derived_from<R, std::system_error>) {
            return classify_error_code(r.code());
        } else {
            static_assert(always_false<R>,
                          "failover cannot classify this result type: write "
                          "`failover::verdict failover_classify(const YourResult&)` in the namespace of "
                          "YourResult (it is found by ADL), or give the pipeline a classifier with "
                          "`.classify_with(fn)`");
            return verdict{};
        }
    }
};

}  // namespace detail

/// True when `failover::classify` knows `R`: a user `failover_classify(const R&)` found by
/// ADL, or a built-in (verdict, std::error_code, std::errc, std::system_error and types derived from it).
template <class R>
concept classifiable = detail::has_adl_classify<R> || detail::builtin_classifiable<R>;

/// The classify customization point: `failover::classify(r)` returns the verdict of a result.
/// A user's `failover_classify(const R&)` (found by ADL) takes precedence over the built-ins.
inline constexpr detail::classify_fn classify{};

/// The verdict for an exception thrown by a transport: a std::system_error (and types derived
/// from it, such as std::filesystem::filesystem_error) by its code, anything else `rejected`:
/// an exception the library does not understand is not retried unless a classifier says so.
inline verdict classify_exception(const std::exception_ptr& e) noexcept {
#if FAILOVER_HAS_EXCEPTIONS
    if (!e) return verdict{};
    try {
        std::rethrow_exception(e);
    } catch (const std::system_error& error) {
        return classify_error_code(error.code());
    } catch (...) {
        return verdict{.kind = fault::rejected};
    }
#else
    (void)e;
    return verdict{.kind = fault::rejected};
#endif
}

}  // namespace failover

#endif  // FAILOVER_CLASSIFY_HPP_INCLUDED
