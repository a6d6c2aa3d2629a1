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

/// Builds a configuration error message in a fixed buffer, without <string>:
/// `config_message("retry_options.max_attempts must be >= 1").got(0)` reads
/// "retry_options.max_attempts must be >= 1 (got 0)". Only reached on misuse.
class config_message {
public:
    explicit config_message(const char* what) noexcept { append(what); }

    config_message& append(const char* text) noexcept {
        for (; *text != '\0'; ++text) put(*text);
        return *this;
    }
    config_message& append(long long value) noexcept {
        char digits[24];
        int count = 0;
        unsigned long long x = value < 0 ? 0ull - static_cast<unsigned long long>(value) : static_cast<unsigned long long>(value);
        if (value < 0) put('-');
        do {
            digits[count++] = static_cast<char>('0' + x % 10);
            x /= 10;
        } while (x != 0);
        while (count > 0) put(digits[--count]);
        return *this;
    }
    /// Appends a floating-point value with three decimals ("2.500", "nan", "-inf").
    config_message& append_real(double value) noexcept {
        if (value != value) return append("nan");
        if (value < 0) {
            put('-');
            value = -value;
        }
        if (value > 9.2e18) return append("inf");
        const long long whole = static_cast<long long>(value);
        const long long milli = static_cast<long long>((value - static_cast<double>(whole)) * 1000.0 + 0.5);
        append(milli >= 1000 ? whole + 1 : whole).append(".");
        const long long frac = milli >= 1000 ? 0 : milli;
        if (frac < 100) put('0');
        if (frac < 10) put('0');
        return append(frac);
    }
    /// Appends " (got <value>)".
    config_message& got(long long value) noexcept { return append(" (got ").append(value).append(")"); }
    /// Appends " (got <value>)" for a floating-point value.
    config_message& got_real(double value) noexcept { return append(" (got ").append_real(value).append(")"); }
    /// Appends " (got <first>..<last>)".
    config_message& got(long long first, long long last) noexcept {
        return append(" (got ").append(first).append("..").append(last).append(")");
    }
    /// Appends " (got <first> and <second>)", for a rule between two fields.
    config_message& got_both(long long first, long long second) noexcept {
        return append(" (got ").append(first).append(" and ").append(second).append(")");
    }
    const char* c_str() const noexcept { return text_; }

private:
    void put(char c) noexcept {
        if (size_ + 1 < sizeof text_) {
            text_[size_++] = c;
            text_[size_] = '\0';
        }
    }

    char text_[256] = {};
    unsigned size_ = 0;
};

[[noreturn]] inline void throw_config_error(const config_message& message) {
    throw_config_error(message.c_str());
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
