// failover benchmarks: the stand-in transport every benchmark calls, directly or through a
// pipeline, so that each figure is read against plain_call in the same run.
#ifndef FAILOVER_BENCH_TRANSPORT_HPP_INCLUDED
#define FAILOVER_BENCH_TRANSPORT_HPP_INCLUDED

#include <failover/fault.hpp>

namespace bench_transport {

/// The transport's result: a payload and whether the exchange worked.
struct reply {
    int value;
    bool ok;
};

/// Found by ADL. Selecting the fault (rather than one of two whole verdicts) lets both compilers
/// compute it without a branch; `r.ok ? success : verdict{...}` made g++ split the loop on a
/// taken branch and cost ~0.4 ns that had nothing to do with the pipeline.
constexpr failover::verdict failover_classify(const reply& r) noexcept {
    return failover::verdict{.kind = r.ok ? failover::fault::none : failover::fault::unavailable};
}

// Volatile, so that neither field of a reply can be known at compile time (clang propagates
// constant return values across functions even when they are not inlined).
inline volatile int reply_value = 42;
inline volatile bool reply_ok = true;

/// The stand-in for an HTTP call: as cheap as a call can be, and never inlined.
[[gnu::noinline]] inline reply transport() { return reply{reply_value, reply_ok}; }

/// A transport that always fails, for the failure paths.
[[gnu::noinline]] inline reply failing_transport() { return reply{reply_value, false}; }

}  // namespace bench_transport

#endif  // FAILOVER_BENCH_TRANSPORT_HPP_INCLUDED
