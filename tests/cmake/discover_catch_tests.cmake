# Run after a test executable is built: lists its Catch2 test cases and writes a ctest file
# with one test per case, named "<PREFIX>: <test case>". (Catch2's own discovery cannot give
# the prefix its trailing space: cmake -D trims values.) Each test runs with --warn NoTests, so
# a filter that selects nothing fails instead of passing silently.
# Inputs: EXECUTABLE, PREFIX, SPEC (optional Catch2 test spec), TIMEOUT, OUTPUT.
set(list_args --list-test-names-only)
if(SPEC)
    list(PREPEND list_args "${SPEC}")
endif()
execute_process(COMMAND "${EXECUTABLE}" ${list_args}
                OUTPUT_VARIABLE listing ERROR_VARIABLE errors RESULT_VARIABLE rc)
# Catch2 2.x exits with the number of test cases listed; only a crash is an error here.
if(rc MATCHES "[^0-9]" OR rc LESS 0)
    message(FATAL_ERROR "listing the tests of ${EXECUTABLE} failed (${rc}):\n${errors}")
endif()
# Square brackets would bind list elements together (CMake keeps `;` inside [...]): hide them
# while the listing is split into names.
string(REPLACE ";" "\\;" listing "${listing}")
string(REPLACE "[" "@FAILOVER_LB@" listing "${listing}")
string(REPLACE "]" "@FAILOVER_RB@" listing "${listing}")
string(REPLACE "\n" ";" names "${listing}")
set(script "")
foreach(name IN LISTS names)
    if(name STREQUAL "")
        continue()
    endif()
    if(name MATCHES "@FAILOVER_[LR]B@")
        # Catch2 2.x cannot select a test case by a name with square brackets in it.
        string(REPLACE "@FAILOVER_LB@" "[" name "${name}")
        string(REPLACE "@FAILOVER_RB@" "]" name "${name}")
        message(FATAL_ERROR "${EXECUTABLE}: rename the test case \"${name}\": a name with [ or ] cannot be run alone")
    endif()
    # Escape the characters a Catch2 test spec treats specially, so the name matches only itself.
    set(filter "${name}")
    foreach(special "\\" "," "*" "\"" "~")
        string(REPLACE "${special}" "\\${special}" filter "${filter}")
    endforeach()
    string(APPEND script
        "add_test([==[${PREFIX}: ${name}]==] [==[${EXECUTABLE}]==] --warn NoTests [==[${filter}]==])\n"
        "set_tests_properties([==[${PREFIX}: ${name}]==] PROPERTIES TIMEOUT ${TIMEOUT} LABELS ${PREFIX})\n")
endforeach()
file(WRITE "${OUTPUT}" "${script}")
