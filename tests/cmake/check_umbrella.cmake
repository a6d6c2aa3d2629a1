# Lists every header the umbrella header pulls in and fails on the ones the core must not use.
file(WRITE ${CMAKE_CURRENT_BINARY_DIR}/umbrella_probe.cpp "#include <failover/failover.hpp>\n")
execute_process(COMMAND ${CXX} -std=c++20 -fsyntax-only -H -I${INCLUDE_DIR} ${CMAKE_CURRENT_BINARY_DIR}/umbrella_probe.cpp
                RESULT_VARIABLE rc ERROR_VARIABLE included)
if(NOT rc EQUAL 0)
    message(FATAL_ERROR "the umbrella header does not compile:\n${included}")
endif()
# Standard headers the core avoids (0.4-0.6 s of parsing each; <atomic> and <mutex> are replaced
# by detail/atomic.hpp and detail/lock.hpp), matched as whole file names.
foreach(h random thread functional iostream regex format atomic mutex)
    if(included MATCHES "/${h}\n")
        message(FATAL_ERROR "failover/failover.hpp pulls in <${h}>:\n${included}")
    endif()
endforeach()
# Adapters, HTTP stacks and test support, matched as path fragments.
foreach(fragment "curl/" "httplib" "boost/" "failover/adapters/" "failover/testing.hpp")
    string(FIND "${included}" "${fragment}" at)
    if(NOT at EQUAL -1)
        message(FATAL_ERROR "failover/failover.hpp pulls in ${fragment}:\n${included}")
    endif()
endforeach()
message(STATUS "the umbrella header includes nothing heavy")
