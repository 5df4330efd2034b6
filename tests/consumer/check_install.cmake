# Run by the `consumer` test (see CMakeLists.txt beside this file):
#   cmake -DBUILD_DIR=... -DCONSUMER_SOURCE=... -DWORK_DIR=... -DGENERATOR=...
#         -DCXX_COMPILER=... [-DCONFIG=...] [-DSANITIZE=...] -P check_install.cmake
# 1. cmake --install BUILD_DIR into WORK_DIR/prefix
# 2. configure CONSUMER_SOURCE with CMAKE_PREFIX_PATH=WORK_DIR/prefix, check
#    that find_package(distkit) found that prefix, build it, run `app`
#    and that without spdlog, find_package(distkit) names libspdlog-dev
# 3. remove WORK_DIR (also on failure)
cmake_minimum_required(VERSION 3.25)

foreach(var IN ITEMS BUILD_DIR CONSUMER_SOURCE WORK_DIR GENERATOR CXX_COMPILER)
  if(NOT ${var})
    message(FATAL_ERROR "check_install.cmake: -D${var}=... is required")
  endif()
endforeach()

set(prefix "${WORK_DIR}/prefix")
set(consumer_build "${WORK_DIR}/build")
file(REMOVE_RECURSE "${WORK_DIR}")

function(fail why)
  file(REMOVE_RECURSE "${WORK_DIR}")
  message(FATAL_ERROR "consumer: ${why}")
endfunction()

function(step name)
  message(STATUS "consumer: ${name}")
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    fail("${name} failed (${rc})")
  endif()
endfunction()

set(config_args)
if(CONFIG)
  set(config_args --config "${CONFIG}")
endif()

# A sanitized libdistkit needs the sanitizer runtime in the consumer too.
set(flag_args)
if(SANITIZE)
  set(flag_args "-DCMAKE_CXX_FLAGS=-fsanitize=${SANITIZE} -fno-omit-frame-pointer"
                "-DCMAKE_EXE_LINKER_FLAGS=-fsanitize=${SANITIZE}")
endif()

step("install ${BUILD_DIR} into ${prefix}"
     "${CMAKE_COMMAND}" --install "${BUILD_DIR}" --prefix "${prefix}" ${config_args})

step("configure the consumer project"
     "${CMAKE_COMMAND}" -S "${CONSUMER_SOURCE}" -B "${consumer_build}" -G "${GENERATOR}"
     "-DCMAKE_CXX_COMPILER=${CXX_COMPILER}" "-DCMAKE_BUILD_TYPE=${CONFIG}"
     "-DCMAKE_PREFIX_PATH=${prefix}" -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF ${flag_args})

# It must be the package just installed, not one from elsewhere on the system.
file(STRINGS "${consumer_build}/CMakeCache.txt" found REGEX "^distkit_DIR:")
string(REGEX REPLACE "^[^=]*=" "" found "${found}")
file(REAL_PATH "${prefix}" real_prefix)
if(found STREQUAL "" OR NOT EXISTS "${found}")
  fail("distkit_DIR not set by find_package")
endif()
file(REAL_PATH "${found}" found)
string(FIND "${found}" "${real_prefix}/" at)
if(NOT at EQUAL 0)
  fail("find_package(distkit) found ${found}, not the package installed in ${real_prefix}")
endif()
message(STATUS "consumer: found distkit in ${found}")

# A package whose dependency is missing says which Debian package brings it.
execute_process(
  COMMAND "${CMAKE_COMMAND}" -S "${CONSUMER_SOURCE}" -B "${WORK_DIR}/no-spdlog" -G "${GENERATOR}"
          "-DCMAKE_CXX_COMPILER=${CXX_COMPILER}" "-DCMAKE_PREFIX_PATH=${prefix}" -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF
          -DCMAKE_DISABLE_FIND_PACKAGE_spdlog=ON
  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
string(FIND "${err}" "apt-get install libspdlog-dev" at)
if(rc EQUAL 0 OR at EQUAL -1)
  fail("find_package(distkit) without spdlog did not name libspdlog-dev (${rc}):\n${err}")
endif()
message(STATUS "consumer: a missing spdlog names libspdlog-dev")

step("build the consumer project" "${CMAKE_COMMAND}" --build "${consumer_build}" ${config_args})

find_program(app NAMES app PATHS "${consumer_build}" "${consumer_build}/${CONFIG}" NO_DEFAULT_PATH NO_CACHE)
if(NOT app)
  fail("no app binary in ${consumer_build}")
endif()
step("run ${app}" "${app}")

file(REMOVE_RECURSE "${WORK_DIR}")
message(STATUS "consumer: OK")
