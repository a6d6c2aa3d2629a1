// failover: the exceptions the library itself throws.
#ifndef FAILOVER_ERRORS_HPP_INCLUDED
#define FAILOVER_ERRORS_HPP_INCLUDED

#include <failover/detail/config.hpp>

#include <stdexcept>

namespace failover {

/// Thrown when an options object is out of range. The message names the field and the
/// allowed range, e.g. "retry_options.max_attempts must be >= 1 (got 0)". In a constant
/// expression the same check is a compile error; without exceptions it aborts with the message.
class config_error : public std::invalid_argument {
public:
    using std::invalid_argument::invalid_argument;
};

/// Thrown by result<R>::value() when the call ended in a rejection (no value to give).
class bad_result_access : public std::logic_error {
public:
    using std::logic_error::logic_error;
};

namespace detail {

[[noreturn]] inline void throw_config_error(const char* message) {
#if FAILOVER_HAS_EXCEPTIONS
    throw config_error(message);
#else
    fatal(message);
#endif
}

[[noreturn]] inline void throw_bad_result_access(const char* message) {
#if FAILOVER_HAS_EXCEPTIONS
    throw bad_result_access(message);
#else
    fatal(message);
#endif
}

}  // namespace detail
}  // namespace failover

#endif  // FAILOVER_ERRORS_HPP_INCLUDED
