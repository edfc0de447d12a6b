# EXTRA_FLAGS: compile/link flags a sanitizer build's consumers need too.
# Installs the build into WORK_DIR/prefix, then builds tests/consumer against it twice:
# with find_package(vkstruct) (shared and static), and with pkg-config. Runs both.
file(REMOVE_RECURSE ${WORK_DIR})
function(run)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "failed (${rc}): ${ARGN}\n${out}\n${err}")
  endif()
  message("${out}")
endfunction()

set(prefix ${WORK_DIR}/prefix)
run(${CMAKE_COMMAND} --install ${BUILD_DIR} --prefix ${prefix})
foreach(f vkstruct.h plugin.h version.h vkstructConfig.cmake vkstruct.pc)
  file(GLOB_RECURSE found ${prefix}/*/${f})
  if(NOT found)
    message(FATAL_ERROR "not installed: ${f}")
  endif()
endforeach()

# 1. CMake package config.
run(${CMAKE_COMMAND} -S ${SOURCE_DIR} -B ${WORK_DIR}/cmake-build -G ${GENERATOR} -DCMAKE_PREFIX_PATH=${prefix}
    "-DCMAKE_C_FLAGS=${EXTRA_FLAGS}")
run(${CMAKE_COMMAND} --build ${WORK_DIR}/cmake-build)
run(${WORK_DIR}/cmake-build/consumer)
run(${WORK_DIR}/cmake-build/consumer_static)

# 2. pkg-config.
file(GLOB_RECURSE pc ${prefix}/vkstruct.pc)
get_filename_component(pcdir ${pc} DIRECTORY)
set(ENV{PKG_CONFIG_PATH} ${pcdir})
execute_process(COMMAND pkg-config --cflags --libs vkstruct OUTPUT_VARIABLE flags RESULT_VARIABLE rc
                OUTPUT_STRIP_TRAILING_WHITESPACE)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "pkg-config --cflags --libs vkstruct failed")
endif()
separate_arguments(flags)
get_filename_component(libdir ${pcdir} DIRECTORY)
separate_arguments(extra UNIX_COMMAND "${EXTRA_FLAGS}")
run(cc -std=c11 ${extra} ${SOURCE_DIR}/consumer.c -o ${WORK_DIR}/consumer_pc ${flags} -lm -Wl,-rpath,${libdir})
run(${WORK_DIR}/consumer_pc)
