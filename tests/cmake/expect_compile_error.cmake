# Compiles SOURCE and passes only if the compiler refuses it with the diagnostic given on the
# source's first line: `// expect: <regular expression>`.
file(STRINGS ${SOURCE} first_line LIMIT_COUNT 1)
if(NOT first_line MATCHES "^// expect: (.+)$")
    message(FATAL_ERROR "${SOURCE}: the first line must be `// expect: <regex>`")
endif()
set(expected "${CMAKE_MATCH_1}")
execute_process(COMMAND ${CXX} -std=c++20 -fsyntax-only -I${INCLUDE_DIR} ${SOURCE}
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(rc EQUAL 0)
    message(FATAL_ERROR "${SOURCE} compiled, but it must not")
endif()
if(NOT "${out}${err}" MATCHES "${expected}")
    message(FATAL_ERROR "${SOURCE} failed to compile, but without the expected diagnostic `${expected}`:\n${err}")
endif()
message(STATUS "refused as expected: ${expected}")
