# Finds what distkit builds against; used by the build and by the installed
# package config alike, so consumers need to say nothing more.
include(CMakeFindDependencyMacro)
set(THREADS_PREFER_PTHREAD_FLAG ON)
find_dependency(Threads)
find_dependency(fmt)
find_dependency(spdlog)

# Standalone Asio (Debian: libasio-dev) is header-only and ships no CMake config.
if(NOT TARGET distkit_deps::asio)
  find_path(DISTKIT_ASIO_INCLUDE_DIR asio.hpp)
  if(NOT DISTKIT_ASIO_INCLUDE_DIR)
    message(FATAL_ERROR "distkit: standalone Asio not found (Debian: apt-get install libasio-dev)")
  endif()
  add_library(distkit_deps::asio INTERFACE IMPORTED)
  set_target_properties(distkit_deps::asio PROPERTIES
    INTERFACE_INCLUDE_DIRECTORIES "${DISTKIT_ASIO_INCLUDE_DIR}"
    INTERFACE_COMPILE_DEFINITIONS "ASIO_NO_DEPRECATED")
endif()

# hiredis 0.14's own CMake config defines no target: find it by hand.
if(NOT TARGET distkit_deps::hiredis)
  find_path(DISTKIT_HIREDIS_INCLUDE_DIR hiredis/async.h)
  find_library(DISTKIT_HIREDIS_LIBRARY hiredis)
  if(NOT DISTKIT_HIREDIS_INCLUDE_DIR OR NOT DISTKIT_HIREDIS_LIBRARY)
    message(FATAL_ERROR "distkit: hiredis not found (Debian: apt-get install libhiredis-dev)")
  endif()
  add_library(distkit_deps::hiredis UNKNOWN IMPORTED)
  set_target_properties(distkit_deps::hiredis PROPERTIES
    IMPORTED_LOCATION "${DISTKIT_HIREDIS_LIBRARY}"
    INTERFACE_INCLUDE_DIRECTORIES "${DISTKIT_HIREDIS_INCLUDE_DIR}")
endif()
