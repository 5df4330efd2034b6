# `cmake --install` lays out headers, the library and a CMake package so that
# find_package(distkit CONFIG REQUIRED) + distkit::distkit just works.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(DISTKIT_CMAKE_DIR "${CMAKE_INSTALL_LIBDIR}/cmake/distkit")
# The public headers are C++20 (coroutines): consumers must compile as C++20
# too, whatever their own CMAKE_CXX_STANDARD says.
target_compile_features(distkit PUBLIC cxx_std_20)
install(TARGETS distkit EXPORT distkitTargets
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
        INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(DIRECTORY "${PROJECT_SOURCE_DIR}/include/distkit" DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(DIRECTORY "${PROJECT_SOURCE_DIR}/lua/" DESTINATION "${CMAKE_INSTALL_DATADIR}/distkit/lua")
install(EXPORT distkitTargets NAMESPACE distkit:: DESTINATION "${DISTKIT_CMAKE_DIR}")
configure_package_config_file("${PROJECT_SOURCE_DIR}/cmake/distkitConfig.cmake.in"
  "${PROJECT_BINARY_DIR}/distkitConfig.cmake" INSTALL_DESTINATION "${DISTKIT_CMAKE_DIR}")
write_basic_package_version_file("${PROJECT_BINARY_DIR}/distkitConfigVersion.cmake"
  COMPATIBILITY SameMinorVersion)
install(FILES "${PROJECT_BINARY_DIR}/distkitConfig.cmake" "${PROJECT_BINARY_DIR}/distkitConfigVersion.cmake"
              "${PROJECT_SOURCE_DIR}/cmake/distkitDependencies.cmake"
        DESTINATION "${DISTKIT_CMAKE_DIR}")
