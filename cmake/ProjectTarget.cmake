# tg_library(NAME SOURCES... DEPS ...): one static library per subsystem, with the
# project's warnings. Include paths are rooted at src/, so code writes
# #include "etcd/client.h".
function(tg_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Werror -Wno-missing-field-initializers)
endfunction()

function(tg_library name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS" ${ARGN})
  add_library(${name} STATIC ${ARG_SOURCES})
  target_include_directories(${name} PUBLIC ${PROJECT_SOURCE_DIR}/src)
  target_link_libraries(${name} PUBLIC ${ARG_DEPS})
  tg_warnings(${name})
endfunction()
