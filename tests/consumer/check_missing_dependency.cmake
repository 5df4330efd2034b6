# Run by the `missing_dependency` test (see CMakeLists.txt beside this file):
#   cmake -DSOURCE_DIR=... -DWORK_DIR=... -DGENERATOR=... -DCXX_COMPILER=... -P check_missing_dependency.cmake
# Configures SOURCE_DIR with one dependency hidden at a time, and checks
# that configuring fails and names the Debian package to install.
cmake_minimum_required(VERSION 3.25)

foreach(var IN ITEMS SOURCE_DIR WORK_DIR GENERATOR CXX_COMPILER)
  if(NOT ${var})
    message(FATAL_ERROR "check_missing_dependency.cmake: -D${var}=... is required")
  endif()
endforeach()

# expect_refusal(<debian package> <cmake arguments hiding it>...)
function(expect_refusal debian)
  set(build "${WORK_DIR}/${debian}")
  file(REMOVE_RECURSE "${build}")
  execute_process(
    COMMAND "${CMAKE_COMMAND}" -S "${SOURCE_DIR}" -B "${build}" -G "${GENERATOR}" "-DCMAKE_CXX_COMPILER=${CXX_COMPILER}"
            -DDISTKIT_BUILD_TESTS=OFF -DDISTKIT_BUILD_EXAMPLES=OFF ${ARGN}
    RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  file(REMOVE_RECURSE "${build}")
  if(rc EQUAL 0)
    message(FATAL_ERROR "missing_dependency: configuring with ${ARGN} succeeded")
  endif()
  string(FIND "${out}${err}" "apt-get install ${debian}" at)
  if(at EQUAL -1)
    message(FATAL_ERROR "missing_dependency: configuring with ${ARGN} failed without naming ${debian}:\n${err}")
  endif()
  message(STATUS "missing_dependency: ${debian} named")
endfunction()

expect_refusal(libfmt-dev -DCMAKE_DISABLE_FIND_PACKAGE_fmt=ON)
expect_refusal(libspdlog-dev -DCMAKE_DISABLE_FIND_PACKAGE_spdlog=ON)
expect_refusal(libssl-dev -DCMAKE_DISABLE_FIND_PACKAGE_OpenSSL=ON)
expect_refusal(libasio-dev -DCMAKE_IGNORE_PATH=/usr/include)
expect_refusal(libhiredis-dev -DCMAKE_IGNORE_PATH=/usr/include -DDISTKIT_ASIO_INCLUDE_DIR=/usr/include)
file(REMOVE_RECURSE "${WORK_DIR}")
