# cmake -DBENCH=<failover_bench> -P bench_smoke.cmake: runs every benchmark briefly; fails on a
# non-zero exit or when the output has no allocs_per_op counter.
execute_process(COMMAND ${BENCH} --benchmark_min_time=0.01
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
message("${out}${err}")
if(NOT rc EQUAL 0)
    message(FATAL_ERROR "failover_bench exited with ${rc}")
endif()
if(NOT out MATCHES "allocs_per_op")
    message(FATAL_ERROR "failover_bench printed no allocs_per_op counter")
endif()
