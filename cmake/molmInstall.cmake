# Installation: headers, the exported CMake package (molm::molm, molm::chem, molm::text,
# molm::compiled), molm.pc, the molm command line and the plugins.
#
#   <prefix>/include/molm/...                      headers
#   <prefix>/<libdir>/libmolm_compiled.a           the kernels compiled once (with MOLM_COMPILED)
#   <prefix>/share/cmake/molm/                     molmConfig.cmake, molmTargets.cmake, FindRDKit.cmake
#   <prefix>/share/pkgconfig/molm.pc               for pkg-config users (molm::molm only)
#   <prefix>/bin/molm                              the command line (when examples are built)
#   <prefix>/<libdir>/molm/plugins/                plugins (targets listed in the MOLM_PLUGINS property)
#
# The headers are architecture independent, so the package lives under share/ like Eigen's and
# nlohmann_json's; molm::compiled, when built, is an optional static library for this architecture
# (its targets file is only loaded when the library is there).
include(CMakePackageConfigHelpers)

set(MOLM_INSTALL_CMAKEDIR "${CMAKE_INSTALL_DATADIR}/cmake/molm" CACHE STRING "Where molmConfig.cmake is installed")
set(MOLM_INSTALL_PKGCONFIGDIR "${CMAKE_INSTALL_DATADIR}/pkgconfig" CACHE STRING "Where molm.pc is installed")
mark_as_advanced(MOLM_INSTALL_CMAKEDIR MOLM_INSTALL_PKGCONFIGDIR)

# ---- headers and targets -------------------------------------------------------------------------
install(DIRECTORY include/molm DESTINATION "${CMAKE_INSTALL_INCLUDEDIR}" COMPONENT molm_headers
        FILES_MATCHING PATTERN "*.hpp" PATTERN "*.h" PATTERN "*.cuh")

set_target_properties(molm PROPERTIES EXPORT_NAME molm)
install(TARGETS molm EXPORT molmTargets)
install(EXPORT molmTargets NAMESPACE molm:: DESTINATION "${MOLM_INSTALL_CMAKEDIR}" COMPONENT molm_headers)

# molm::chem is its own export set, so a consumer without RDKit still loads molm::molm.
set(MOLM_HAS_CHEM OFF)
if(TARGET molm_chem)
  set(MOLM_HAS_CHEM ON)
  install(TARGETS molm_chem EXPORT molmChemTargets)
  install(EXPORT molmChemTargets NAMESPACE molm:: DESTINATION "${MOLM_INSTALL_CMAKEDIR}" COMPONENT molm_headers)
endif()

# molm::text likewise: a consumer without SentencePiece/utf8proc still loads molm::molm.
set(MOLM_HAS_TEXT OFF)
if(TARGET molm_text)
  set(MOLM_HAS_TEXT ON)
  install(TARGETS molm_text EXPORT molmTextTargets)
  install(EXPORT molmTextTargets NAMESPACE molm:: DESTINATION "${MOLM_INSTALL_CMAKEDIR}" COMPONENT molm_headers)
endif()

# molm::compiled: the CPU kernels compiled once, for projects with many files (MOLM_COMPILED=ON).
set(MOLM_HAS_COMPILED OFF)
if(TARGET molm_compiled)
  set(MOLM_HAS_COMPILED ON)
  install(TARGETS molm_compiled EXPORT molmCompiledTargets ARCHIVE DESTINATION "${CMAKE_INSTALL_LIBDIR}"
          COMPONENT molm_headers)
  install(EXPORT molmCompiledTargets NAMESPACE molm:: DESTINATION "${MOLM_INSTALL_CMAKEDIR}" COMPONENT molm_headers)
endif()

# ---- molmConfig.cmake + version ------------------------------------------------------------------
configure_package_config_file(cmake/molmConfig.cmake.in "${PROJECT_BINARY_DIR}/molmConfig.cmake"
                              INSTALL_DESTINATION "${MOLM_INSTALL_CMAKEDIR}")
write_basic_package_version_file("${PROJECT_BINARY_DIR}/molmConfigVersion.cmake"
                                 VERSION ${PROJECT_VERSION} COMPATIBILITY SameMajorVersion ARCH_INDEPENDENT)
install(FILES "${PROJECT_BINARY_DIR}/molmConfig.cmake" "${PROJECT_BINARY_DIR}/molmConfigVersion.cmake"
              cmake/FindRDKit.cmake cmake/FindMinizip.cmake cmake/FindLMDB.cmake
              cmake/FindSentencePiece.cmake cmake/FindUtf8proc.cmake
        DESTINATION "${MOLM_INSTALL_CMAKEDIR}" COMPONENT molm_headers)

# ---- molm.pc ---------------------------------------------------------------------------------------
# Requires: what has a .pc on Debian; Libs: oneDNN (no .pc) and OpenMP by flag. The prefix is
# computed from the .pc's own location, so `cmake --install --prefix <anywhere>` stays valid.
file(RELATIVE_PATH MOLM_PC_PREFIX_FROM_PCDIR "/molm-prefix/${MOLM_INSTALL_PKGCONFIGDIR}" "/molm-prefix")
string(REGEX REPLACE "/$" "" MOLM_PC_PREFIX_FROM_PCDIR "${MOLM_PC_PREFIX_FROM_PCDIR}")
set(MOLM_PC_DNNL_LIBS "-ldnnl")
get_target_property(_molm_dnnl_configs DNNL::dnnl IMPORTED_CONFIGURATIONS)
if(_molm_dnnl_configs)
  list(GET _molm_dnnl_configs 0 _molm_dnnl_config)
  get_target_property(_molm_dnnl_lib DNNL::dnnl IMPORTED_LOCATION_${_molm_dnnl_config})
  if(_molm_dnnl_lib)
    get_filename_component(_molm_dnnl_dir "${_molm_dnnl_lib}" DIRECTORY)
    if(NOT _molm_dnnl_dir IN_LIST CMAKE_CXX_IMPLICIT_LINK_DIRECTORIES)
      set(MOLM_PC_DNNL_LIBS "-L${_molm_dnnl_dir} -ldnnl")
    endif()
  endif()
endif()
configure_file(cmake/molm.pc.in "${PROJECT_BINARY_DIR}/molm.pc" @ONLY)
install(FILES "${PROJECT_BINARY_DIR}/molm.pc" DESTINATION "${MOLM_INSTALL_PKGCONFIGDIR}" COMPONENT molm_headers)

# ---- the command line and plugins ----------------------------------------------------------------
if(TARGET molm_cli)
  install(TARGETS molm_cli RUNTIME DESTINATION "${CMAKE_INSTALL_BINDIR}" COMPONENT molm_cli)
endif()
# A plugin's CMakeLists adds itself with set_property(GLOBAL APPEND PROPERTY MOLM_PLUGINS <target>).
get_property(_molm_plugins GLOBAL PROPERTY MOLM_PLUGINS)
if(_molm_plugins)
  install(TARGETS ${_molm_plugins} LIBRARY DESTINATION "${MOLM_INSTALL_PLUGINDIR}" COMPONENT molm_cli)
endif()
