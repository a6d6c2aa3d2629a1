# Settings for the project's own targets (tests, benchmarks, examples); never applied to users.

set(FAILOVER_WARNINGS -Wall -Wextra -Wpedantic -Werror)

set(FAILOVER_SANITIZE_FLAGS "")
if(FAILOVER_SANITIZE)
    list(JOIN FAILOVER_SANITIZE "," _failover_san)
    set(FAILOVER_SANITIZE_FLAGS -fsanitize=${_failover_san} -fno-omit-frame-pointer -fno-sanitize-recover=all)
endif()

# failover_dev_target(<target>): warnings as errors and the configured sanitizers.
function(failover_dev_target target)
    target_compile_options(${target} PRIVATE ${FAILOVER_WARNINGS} ${FAILOVER_SANITIZE_FLAGS})
    target_link_options(${target} PRIVATE ${FAILOVER_SANITIZE_FLAGS})
    target_link_libraries(${target} PRIVATE failover::failover)
endfunction()
