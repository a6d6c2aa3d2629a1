// failover: build configuration and the few macros the library needs.
#ifndef FAILOVER_DETAIL_CONFIG_HPP_INCLUDED
#define FAILOVER_DETAIL_CONFIG_HPP_INCLUDED

#if !defined(__cplusplus) || (__cplusplus < 202002L && !(defined(_MSVC_LANG) && _MSVC_LANG >= 202002L))
#  error "failover needs C++20 (-std=c++20 or later)"
#endif

#include <cstdio>
#include <cstdlib>

/// FAILOVER_HAS_EXCEPTIONS: 1 when the translation unit is built with exceptions.
/// Detected from the compiler; define it to 0 or 1 to override.
#ifndef FAILOVER_HAS_EXCEPTIONS
#  if defined(__cpp_exceptions) || defined(__EXCEPTIONS) || defined(_CPPUNWIND)
#    define FAILOVER_HAS_EXCEPTIONS 1
#  else
#    define FAILOVER_HAS_EXCEPTIONS 0
#  endif
#endif

/// Forces inlining of the few functions on the call path of every pipeline. Without it
/// clang (and g++ at -O2) keep `call` and `attempt_once` out of line, which costs ~20 ns per
/// call for what is otherwise free. Lambdas take the GNU spelling after the parameter list.
#if defined(__GNUC__) || defined(__clang__)
#  define FAILOVER_ALWAYS_INLINE [[gnu::always_inline]] inline
#  define FAILOVER_LAMBDA_ALWAYS_INLINE __attribute__((always_inline))
#  define FAILOVER_COLD [[gnu::noinline, gnu::cold]]
#else
#  define FAILOVER_ALWAYS_INLINE inline
#  define FAILOVER_LAMBDA_ALWAYS_INLINE
#  define FAILOVER_COLD
#endif

#define FAILOVER_VERSION_MAJOR 0
#define FAILOVER_VERSION_MINOR 1
#define FAILOVER_VERSION_PATCH 0

namespace failover::detail {

// Reached only on misuse (a broken precondition) or on bad configuration in a build without
// exceptions: there is no caller left to tell, so say what went wrong and stop.
[[noreturn]] inline void fatal(const char* what) noexcept {
    std::fputs("failover: ", stderr);
    std::fputs(what, stderr);
    std::fputc('\n', stderr);
    std::abort();
}

}  // namespace failover::detail

#endif  // FAILOVER_DETAIL_CONFIG_HPP_INCLUDED
