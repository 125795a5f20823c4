# Installs a configured molm build into a scratch prefix, then uses it the two ways a user would:
#   1. CMake: configure + build + run tests/consumer (find_package(molm) -> molm::molm, molm::chem);
#   2. pkg-config: compile + run the same main.cpp with `pkg-config --cflags --libs molm` only.
#
#   cmake -DMOLM_BUILD_DIR=<build> -DCONSUMER_SOURCE_DIR=<src>/tests/consumer -DWORK_DIR=<scratch>
#         [-DGENERATOR=Ninja] [-DCXX_COMPILER=g++] [-DPKG_CONFIG_EXECUTABLE=pkg-config] -P run_consumer.cmake
#
# Only the header/package install component is installed, so this works whether or not the CLI
# and examples of the build have been compiled.
cmake_minimum_required(VERSION 3.22)

foreach(var MOLM_BUILD_DIR CONSUMER_SOURCE_DIR WORK_DIR)
  if(NOT ${var})
    message(FATAL_ERROR "run_consumer.cmake needs -D${var}=...")
  endif()
endforeach()

# Runs a command, echoes its output (QUIET: only on failure), and stops the script when it fails.
function(run what)
  cmake_parse_arguments(PARSE_ARGV 1 arg "QUIET" "" "")
  execute_process(COMMAND ${arg_UNPARSED_ARGUMENTS} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT arg_QUIET OR NOT rc EQUAL 0)
    message(STATUS "${what}:\n${out}${err}")
  else()
    message(STATUS "${what}: done")
  endif()
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "${what} failed (exit ${rc}): ${arg_UNPARSED_ARGUMENTS}")
  endif()
  set(run_output "${out}" PARENT_SCOPE)
endfunction()

set(prefix "${WORK_DIR}/prefix")
file(REMOVE_RECURSE "${WORK_DIR}")
file(MAKE_DIRECTORY "${WORK_DIR}")

run("install molm into ${prefix}" QUIET
    "${CMAKE_COMMAND}" --install "${MOLM_BUILD_DIR}" --prefix "${prefix}" --component molm_headers)
foreach(expected include/molm/molm.hpp include/molm/tensor.hpp share/cmake/molm/molmConfig.cmake
                 share/cmake/molm/molmConfigVersion.cmake share/cmake/molm/FindRDKit.cmake share/pkgconfig/molm.pc)
  if(NOT EXISTS "${prefix}/${expected}")
    message(FATAL_ERROR "the install lacks ${expected}")
  endif()
endforeach()

# ---- 1. CMake ----------------------------------------------------------------------------------------
# No build type (no optimisation flags): the check is that the package is found and links and the
# programs give the right answers; each file compiles all of molm header-only, and -O3 would triple that.
set(configure_args -S "${CONSUMER_SOURCE_DIR}" -B "${WORK_DIR}/build" -DCMAKE_BUILD_TYPE=
                   "-DCMAKE_PREFIX_PATH=${prefix}" -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF)
if(GENERATOR)
  list(APPEND configure_args -G "${GENERATOR}")
endif()
if(CXX_COMPILER)
  list(APPEND configure_args "-DCMAKE_CXX_COMPILER=${CXX_COMPILER}")
endif()
run("configure the consumer" "${CMAKE_COMMAND}" ${configure_args})

# It must have found *this* install, not another molm on the system.
file(STRINGS "${WORK_DIR}/build/CMakeCache.txt" molm_dir_line REGEX "^molm_DIR:")
string(REGEX REPLACE "^molm_DIR:[A-Z]+=" "" molm_dir "${molm_dir_line}")
file(REAL_PATH "${molm_dir}" molm_dir)
file(REAL_PATH "${prefix}" real_prefix)
string(FIND "${molm_dir}" "${real_prefix}/" at)
if(NOT at EQUAL 0)
  message(FATAL_ERROR "the consumer found molm in ${molm_dir}, not in the fresh install ${real_prefix}")
endif()

run("build the consumer" "${CMAKE_COMMAND}" --build "${WORK_DIR}/build")
run("run the consumer" "${WORK_DIR}/build/consumer")
if(EXISTS "${WORK_DIR}/build/consumer_compiled")
  run("run the molm::compiled consumer" "${WORK_DIR}/build/consumer_compiled")
else()
  message(STATUS "molm::compiled is not in this install (built with MOLM_COMPILED=OFF): consumer_compiled skipped")
endif()
if(EXISTS "${WORK_DIR}/build/consumer_chem")
  run("run the molm::chem consumer" "${WORK_DIR}/build/consumer_chem")
else()
  message(STATUS "molm::chem is not in this install (built without RDKit): consumer_chem skipped")
endif()
if(EXISTS "${WORK_DIR}/build/consumer_text")
  run("run the molm::text consumer" "${WORK_DIR}/build/consumer_text")
else()
  message(STATUS "molm::text is not in this install (built without SentencePiece/utf8proc): consumer_text skipped")
endif()

# ---- 2. pkg-config --------------------------------------------------------------------------------
if(NOT PKG_CONFIG_EXECUTABLE)
  find_program(PKG_CONFIG_EXECUTABLE NAMES pkg-config pkgconf)
endif()
if(NOT PKG_CONFIG_EXECUTABLE)
  message(FATAL_ERROR "pkg-config is needed to check molm.pc (Debian: pkg-config)")
endif()
set(ENV{PKG_CONFIG_PATH} "${prefix}/share/pkgconfig")
run("pkg-config --modversion molm" "${PKG_CONFIG_EXECUTABLE}" --modversion molm)
run("pkg-config --cflags molm" "${PKG_CONFIG_EXECUTABLE}" --cflags molm)
string(STRIP "${run_output}" cflags)
# The -I path is relative to the .pc file (${pcfiledir}); it must land on the installed headers.
if(NOT cflags MATCHES "-I([^ ]+/include)( |$)")
  message(FATAL_ERROR "pkg-config --cflags molm has no include directory: ${cflags}")
endif()
file(REAL_PATH "${CMAKE_MATCH_1}" include_dir)
if(NOT include_dir STREQUAL "${real_prefix}/include")
  message(FATAL_ERROR "pkg-config --cflags molm points at ${include_dir}, not ${real_prefix}/include")
endif()
run("pkg-config --libs molm" "${PKG_CONFIG_EXECUTABLE}" --libs molm)
string(STRIP "${run_output}" libs)

if(NOT CXX_COMPILER)
  set(CXX_COMPILER c++)
endif()
separate_arguments(cflag_list UNIX_COMMAND "${cflags}")
separate_arguments(lib_list UNIX_COMMAND "${libs}")
run("compile the consumer with pkg-config's flags"
    "${CXX_COMPILER}" -O0 ${cflag_list} "${CONSUMER_SOURCE_DIR}/main.cpp" -o "${WORK_DIR}/consumer_pkgconfig" ${lib_list})
run("run the pkg-config consumer" "${WORK_DIR}/consumer_pkgconfig")
