// failover: the umbrella header. Every public header of the core; no adapter (they pull in
// their HTTP stack's headers) and no test support (failover/testing.hpp).
#ifndef FAILOVER_FAILOVER_HPP_INCLUDED
#define FAILOVER_FAILOVER_HPP_INCLUDED

#include <failover/circuit_breaker.hpp>
#include <failover/classify.hpp>
#include <failover/errors.hpp>
#include <failover/fault.hpp>
#include <failover/http.hpp>
#include <failover/pipeline.hpp>
#include <failover/regions.hpp>
#include <failover/retry.hpp>
#include <failover/time.hpp>

#endif  // FAILOVER_FAILOVER_HPP_INCLUDED
