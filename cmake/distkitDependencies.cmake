# Finds what distkit builds against; used by the build and by the installed
# package config alike, so consumers need to say nothing more. What is
# missing is named with the Debian package that brings it.
include(CMakeFindDependencyMacro)

# From find_package(distkit): distkit is not found, with `why` as the reason,
# and the config stops (see distkitConfig.cmake.in). From the build: an error.
macro(distkit_missing why)
  if(CMAKE_FIND_PACKAGE_NAME STREQUAL "distkit")
    set(distkit_NOT_FOUND_MESSAGE "distkit: ${why}")
    set(distkit_FOUND FALSE)
    return()
  endif()
  message(FATAL_ERROR "distkit: ${why}")
endmacro()

set(THREADS_PREFER_PTHREAD_FLAG ON)
find_dependency(Threads)
foreach(dependency IN ITEMS "fmt libfmt-dev" "spdlog libspdlog-dev")
  separate_arguments(dependency)
  list(GET dependency 0 package)
  list(GET dependency 1 debian)
  find_package(${package} CONFIG QUIET)
  if(NOT ${package}_FOUND)
    distkit_missing("${package} not found (Debian: apt-get install ${debian})")
  endif()
endforeach()

# Standalone Asio (Debian: libasio-dev) is header-only and ships no CMake config.
if(NOT TARGET distkit_deps::asio)
  find_path(DISTKIT_ASIO_INCLUDE_DIR asio.hpp)
  if(NOT DISTKIT_ASIO_INCLUDE_DIR)
    distkit_missing("standalone Asio not found (Debian: apt-get install libasio-dev)")
  endif()
  add_library(distkit_deps::asio INTERFACE IMPORTED)
  set_target_properties(distkit_deps::asio PROPERTIES INTERFACE_INCLUDE_DIRECTORIES "${DISTKIT_ASIO_INCLUDE_DIR}")
endif()

# hiredis 0.14's own CMake config defines no target: find it by hand.
if(NOT TARGET distkit_deps::hiredis)
  find_path(DISTKIT_HIREDIS_INCLUDE_DIR hiredis/read.h)
  find_library(DISTKIT_HIREDIS_LIBRARY hiredis)
  if(NOT DISTKIT_HIREDIS_INCLUDE_DIR OR NOT DISTKIT_HIREDIS_LIBRARY)
    distkit_missing("hiredis not found (Debian: apt-get install libhiredis-dev)")
  endif()
  add_library(distkit_deps::hiredis UNKNOWN IMPORTED)
  set_target_properties(distkit_deps::hiredis PROPERTIES
    IMPORTED_LOCATION "${DISTKIT_HIREDIS_LIBRARY}"
    INTERFACE_INCLUDE_DIRECTORIES "${DISTKIT_HIREDIS_INCLUDE_DIR}")
endif()

# TLS through asio::ssl.
find_package(OpenSSL 3 QUIET)
if(NOT OpenSSL_FOUND)
  distkit_missing("OpenSSL 3 not found (Debian: apt-get install libssl-dev)")
endif()
