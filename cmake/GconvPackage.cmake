# The C/C++ package: the shared library gconv (only the C ABI exported), the
# static library, the headers, and a CMake config exporting gconv::gconv.
#
#   cmake --install build --prefix P   ->  P/include/gconv/gconv.h[pp]
#                                          P/lib/libgconv.so (+ libgconv.a)
#                                          P/lib/cmake/gconv/gconvConfig.cmake
#   the wheel (scikit-build-core)      ->  the same under site-packages/gconv/
#                                          (shared library only: the Python
#                                          extension links the static one)
include(CMakePackageConfigHelpers)
include(GNUInstallDirs)

# The header's version macros must be the project's.
file(STRINGS ${CMAKE_CURRENT_SOURCE_DIR}/src/include/gconv/gconv.h _gconv_version_lines
     REGEX "^#define GCONV_VERSION_(MAJOR|MINOR|PATCH) ")
set(_gconv_header_version "")
foreach(part MAJOR MINOR PATCH)
  string(REGEX MATCH "GCONV_VERSION_${part} ([0-9]+)" _m "${_gconv_version_lines}")
  list(APPEND _gconv_header_version ${CMAKE_MATCH_1})
endforeach()
list(JOIN _gconv_header_version "." _gconv_header_version)
if(NOT _gconv_header_version STREQUAL PROJECT_VERSION)
  message(FATAL_ERROR "gconv.h says version ${_gconv_header_version}, CMakeLists.txt ${PROJECT_VERSION}")
endif()

# Limits the dynamic symbols of `target` to `patterns` (globs), so a static
# copy of gconv inside it can never interpose on, or be interposed by, another.
function(gconv_export_only target)
  if(APPLE)
    foreach(pattern IN LISTS ARGN)
      target_link_options(${target} PRIVATE "LINKER:-exported_symbol,_${pattern}")
    endforeach()
  elseif(NOT WIN32)  # ELF: a version script
    list(JOIN ARGN "; " globals)
    set(map ${CMAKE_CURRENT_BINARY_DIR}/${target}_exports.map)
    file(WRITE ${map} "{\n  global: ${globals};\n  local: *;\n};\n")
    target_link_options(${target} PRIVATE "LINKER:--version-script=${map}")
    set_property(TARGET ${target} APPEND PROPERTY LINK_DEPENDS ${map})
  endif()
endfunction()

if(DEFINED SKBUILD)
  set(GCONV_INSTALL_INCLUDEDIR gconv/include)
  set(GCONV_INSTALL_LIBDIR gconv/lib)
  set(GCONV_INSTALL_BINDIR gconv/lib)  # a Windows DLL next to its import library
else()
  set(GCONV_INSTALL_INCLUDEDIR ${CMAKE_INSTALL_INCLUDEDIR})
  set(GCONV_INSTALL_LIBDIR ${CMAKE_INSTALL_LIBDIR})
  set(GCONV_INSTALL_BINDIR ${CMAKE_INSTALL_BINDIR})
endif()
set(GCONV_INSTALL_CMAKEDIR ${GCONV_INSTALL_LIBDIR}/cmake/gconv)

if(GCONV_BUILD_SHARED)
  add_library(gconv SHARED $<TARGET_OBJECTS:gconv_objects>)
  add_library(gconv::gconv ALIAS gconv)
  target_include_directories(gconv PUBLIC
    $<BUILD_INTERFACE:${CMAKE_CURRENT_SOURCE_DIR}/src/include>
    $<INSTALL_INTERFACE:${GCONV_INSTALL_INCLUDEDIR}>)
  target_compile_features(gconv INTERFACE cxx_std_17)  # for gconv.hpp
  if(OpenMP_CXX_FOUND)
    target_link_libraries(gconv PRIVATE OpenMP::OpenMP_CXX)  # not in its interface
  endif()
  gconv_export_only(gconv "gconv_*")
  if(NOT DEFINED SKBUILD)
    # A wheel cannot hold the soname symlinks, so only the source install is versioned.
    set_target_properties(gconv PROPERTIES VERSION ${PROJECT_VERSION}
                                           SOVERSION ${PROJECT_VERSION_MAJOR})
  endif()
  if(APPLE)
    set_target_properties(gconv PROPERTIES INSTALL_NAME_DIR "@rpath")
  endif()
endif()

target_include_directories(gconv_static PUBLIC $<INSTALL_INTERFACE:${GCONV_INSTALL_INCLUDEDIR}>)
target_compile_features(gconv_static INTERFACE cxx_std_17)
set_target_properties(gconv_static PROPERTIES EXPORT_NAME gconv_static)
if(NOT WIN32)
  set_target_properties(gconv_static PROPERTIES OUTPUT_NAME gconv)  # libgconv.a
endif()

if(NOT GCONV_INSTALL)
  return()
endif()

install(FILES src/include/gconv/gconv.h src/include/gconv/gconv.hpp
        DESTINATION ${GCONV_INSTALL_INCLUDEDIR}/gconv)
set(GCONV_PACKAGE_HAS_SHARED ${GCONV_BUILD_SHARED})
set(GCONV_PACKAGE_HAS_STATIC OFF)
if(GCONV_BUILD_SHARED)
  install(TARGETS gconv EXPORT gconvTargets
          LIBRARY DESTINATION ${GCONV_INSTALL_LIBDIR}
          ARCHIVE DESTINATION ${GCONV_INSTALL_LIBDIR}
          RUNTIME DESTINATION ${GCONV_INSTALL_BINDIR})
  install(EXPORT gconvTargets NAMESPACE gconv:: DESTINATION ${GCONV_INSTALL_CMAKEDIR})
endif()
if(NOT DEFINED SKBUILD)
  set(GCONV_PACKAGE_HAS_STATIC ON)
  install(TARGETS gconv_static EXPORT gconvStaticTargets
          ARCHIVE DESTINATION ${GCONV_INSTALL_LIBDIR})
  install(EXPORT gconvStaticTargets NAMESPACE gconv:: DESTINATION ${GCONV_INSTALL_CMAKEDIR})
endif()
if(OpenMP_CXX_FOUND)
  set(GCONV_PACKAGE_OPENMP ON)
else()
  set(GCONV_PACKAGE_OPENMP OFF)
endif()
configure_package_config_file(cmake/gconvConfig.cmake.in
  ${CMAKE_CURRENT_BINARY_DIR}/gconvConfig.cmake
  INSTALL_DESTINATION ${GCONV_INSTALL_CMAKEDIR})
write_basic_package_version_file(${CMAKE_CURRENT_BINARY_DIR}/gconvConfigVersion.cmake
  VERSION ${PROJECT_VERSION} COMPATIBILITY SameMinorVersion)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/gconvConfig.cmake
              ${CMAKE_CURRENT_BINARY_DIR}/gconvConfigVersion.cmake
        DESTINATION ${GCONV_INSTALL_CMAKEDIR})
