# tg_library(NAME SOURCES... DEPS ...): one static library per subsystem, with the
# project's warnings. Include paths are rooted at src/, so code writes
# #include "etcd/client.h".
function(tg_warnings target)
  # -Wmismatched-new-delete: GCC 12 misreports asio coroutine frames at -O2.
  target_compile_options(${target} PRIVATE -Wall -Wextra -Werror -Wno-missing-field-initializers
                                           -Wno-mismatched-new-delete)
endfunction()

# Every target that links tg_base compiles with tg_base's precompiled header
# rather than its own copy of it.
function(tg_use_base_pch target)
  target_precompile_headers(${target} REUSE_FROM tg_base)
endfunction()

function(tg_library name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS" ${ARGN})
  add_library(${name} STATIC ${ARG_SOURCES})
  target_include_directories(${name} PUBLIC ${PROJECT_SOURCE_DIR}/src)
  target_link_libraries(${name} PUBLIC ${ARG_DEPS})
  tg_warnings(${name})
  if(NOT name STREQUAL "tg_base")
    tg_use_base_pch(${name})
  endif()
endfunction()
