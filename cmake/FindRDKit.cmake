# FindRDKit: RDKit as RDKit::<Module> IMPORTED targets, named like upstream's rdkit-config.cmake.
#
#   find_package(RDKit [version] [REQUIRED] [COMPONENTS GraphMol SmilesParse ...])
#
# An RDKit built from source or installed by conda ships rdkit-config.cmake: it is used when found.
# Debian/Ubuntu's librdkit-dev ships neither a CMake config nor a .pc file, so otherwise this module
# finds the headers (<prefix>/include/rdkit/GraphMol/GraphMol.h) and every libRDKit<Module>.so, and
# creates the same RDKit::<Module> targets, so target_link_libraries() lines are identical everywhere.
#
# Hints: RDKit_ROOT / RDBASE (environment or CMake variable) = the RDKit install prefix.
# Results: RDKit_FOUND, RDKit_VERSION (from the soname, e.g. 2022.09.3), RDKit_INCLUDE_DIRS,
#          RDKit_LIBRARIES (the targets of the requested components), RDKit_<Module>_FOUND.
# The targets carry the include directories RDKit's headers need (rdkit/, Boost, Eigen for the
# few headers that use it) and link the RDKit libraries their inline code calls.

include(FindPackageHandleStandardArgs)
include(CMakeFindDependencyMacro)

# Components a caller gets when it names none: what molm::chem uses.
set(_rdkit_default_components GraphMol SmilesParse FileParsers DistGeomHelpers ForceFieldHelpers Descriptors
                                Depictor SubstructMatch ChemTransforms)
if(RDKit_FIND_COMPONENTS)
  set(_rdkit_components ${RDKit_FIND_COMPONENTS})
else()
  set(_rdkit_components ${_rdkit_default_components})
endif()

# ---- 1. an upstream config, when there is one ----------------------------------------------------
find_package(RDKit CONFIG QUIET)
if(RDKit_FOUND AND TARGET RDKit::GraphMol)
  set(RDKit_LIBRARIES "")
  foreach(_c IN LISTS _rdkit_components)
    if(TARGET RDKit::${_c})
      set(RDKit_${_c}_FOUND TRUE)
      list(APPEND RDKit_LIBRARIES RDKit::${_c})
    else()
      set(RDKit_${_c}_FOUND FALSE)
    endif()
  endforeach()
  set(RDKit_CONFIG_FILE "${RDKit_CONFIG}")
  find_package_handle_standard_args(RDKit CONFIG_MODE HANDLE_COMPONENTS)
  return()
endif()
set(RDKit_FOUND FALSE)

# ---- 2. the plain-files layout (Debian: /usr/include/rdkit, /usr/lib/libRDKit*.so) ---------------
find_path(RDKit_INCLUDE_DIR NAMES GraphMol/GraphMol.h
          HINTS ${RDKit_ROOT} ENV RDKit_ROOT ENV RDBASE
          PATH_SUFFIXES include/rdkit rdkit Code)
find_library(RDKit_RDGeneral_LIBRARY NAMES RDKitRDGeneral RDGeneral
             HINTS ${RDKit_ROOT} ENV RDKit_ROOT ENV RDBASE PATH_SUFFIXES lib lib64)
mark_as_advanced(RDKit_INCLUDE_DIR RDKit_RDGeneral_LIBRARY)

# The version is in the library's real name (libRDKitRDGeneral.so.1.2022.09.3); Debian's
# RDGeneral/versions.h still holds unexpanded @RDKit_Year@ placeholders, so it cannot be used.
if(RDKit_RDGeneral_LIBRARY)
  get_filename_component(_rdkit_real "${RDKit_RDGeneral_LIBRARY}" REALPATH)
  if(_rdkit_real MATCHES "\\.so\\.[0-9]+\\.([0-9][0-9][0-9][0-9]\\.[0-9]+\\.[0-9]+)$")
    set(RDKit_VERSION "${CMAKE_MATCH_1}")
  endif()
  get_filename_component(_rdkit_libdir "${RDKit_RDGeneral_LIBRARY}" DIRECTORY)
endif()

# Which RDKit libraries each module's shared object links (readelf -d NEEDED, RDKit 2022.09);
# a module's headers may call into these inline, so its target links them too.
set(_rdkit_deps_RDGeneral "")
set(_rdkit_deps_DataStructs RDGeneral)
set(_rdkit_deps_RDGeometryLib DataStructs RDGeneral)
set(_rdkit_deps_GraphMol RDGeometryLib DataStructs RDGeneral)
set(_rdkit_deps_SmilesParse GraphMol RDGeneral)
set(_rdkit_deps_GenericGroups GraphMol RDGeneral)
set(_rdkit_deps_SubstructMatch GenericGroups GraphMol RDGeneral)
set(_rdkit_deps_MolTransforms GraphMol RDGeometryLib RDGeneral)
set(_rdkit_deps_Depictor SubstructMatch MolTransforms GraphMol RDGeometryLib RDGeneral)
set(_rdkit_deps_ChemTransforms SubstructMatch SmilesParse GraphMol RDGeometryLib RDGeneral)
set(_rdkit_deps_FileParsers Depictor ChemTransforms SmilesParse GenericGroups GraphMol RDGeometryLib RDGeneral)
set(_rdkit_deps_ForceField RDGeometryLib RDGeneral)
set(_rdkit_deps_ForceFieldHelpers SmilesParse SubstructMatch ForceField GraphMol RDGeometryLib RDGeneral)
set(_rdkit_deps_EigenSolvers RDGeneral)
set(_rdkit_deps_Alignment RDGeometryLib RDGeneral)
set(_rdkit_deps_DistGeometry EigenSolvers ForceFieldHelpers ForceField RDGeometryLib RDGeneral)
set(_rdkit_deps_DistGeomHelpers DistGeometry Alignment ForceFieldHelpers SubstructMatch ForceField GraphMol
    RDGeometryLib RDGeneral)
set(_rdkit_deps_PartialCharges GraphMol RDGeneral)
set(_rdkit_deps_Subgraphs GraphMol RDGeneral)
set(_rdkit_deps_Descriptors PartialCharges Subgraphs MolTransforms SmilesParse SubstructMatch GraphMol
    RDGeometryLib RDGeneral)
set(_rdkit_deps_Fingerprints Subgraphs SubstructMatch SmilesParse GraphMol DataStructs RDGeneral)
set(_rdkit_deps_Catalogs "")
set(_rdkit_deps_FragCatalog Subgraphs SubstructMatch SmilesParse Catalogs GraphMol DataStructs RDGeneral)
set(_rdkit_deps_FilterCatalog SubstructMatch SmilesParse Catalogs GraphMol RDGeneral)
set(_rdkit_deps_ChemReactions FilterCatalog Descriptors Fingerprints FileParsers ChemTransforms Depictor
    SubstructMatch SmilesParse GraphMol DataStructs RDGeneral)
set(_rdkit_deps_MolStandardize ChemReactions Descriptors Catalogs ChemTransforms SmilesParse SubstructMatch
    GraphMol RDGeneral)
set(_rdkit_deps_MolAlign MolTransforms SmilesParse SubstructMatch Alignment GraphMol RDGeometryLib RDGeneral)
set(_rdkit_deps_MolDraw2D ChemReactions FileParsers Depictor MolTransforms SmilesParse GraphMol RDGeometryLib
    RDGeneral)
# Any other module found on disk links GraphMol (and through it RDGeneral).
set(_rdkit_deps_default GraphMol RDGeneral)

if(RDKit_INCLUDE_DIR AND RDKit_RDGeneral_LIBRARY)
  # RDKit's public headers include Boost everywhere and Eigen in a few (MolTransforms.h).
  if(NOT TARGET Boost::headers)
    find_package(Boost QUIET)
  endif()
  if(TARGET Boost::headers)
    set(RDKit_Boost_headers_FOUND TRUE)
  endif()
  if(NOT TARGET Eigen3::Eigen)
    find_package(Eigen3 QUIET NO_MODULE)
  endif()

  # One target per libRDKit<Module> on disk, so any upstream target name a consumer uses exists.
  file(GLOB _rdkit_files "${_rdkit_libdir}/libRDKit*${CMAKE_SHARED_LIBRARY_SUFFIX}")
  set(_rdkit_all_modules "")
  foreach(_file IN LISTS _rdkit_files)
    get_filename_component(_name "${_file}" NAME)
    string(REGEX REPLACE "^libRDKit(.+)\\${CMAKE_SHARED_LIBRARY_SUFFIX}$" "\\1" _module "${_name}")
    list(APPEND _rdkit_all_modules ${_module})
    set(RDKit_${_module}_LIBRARY "${_file}" CACHE FILEPATH "RDKit ${_module} library")
    mark_as_advanced(RDKit_${_module}_LIBRARY)
  endforeach()

  foreach(_module IN LISTS _rdkit_all_modules)
    if(NOT TARGET RDKit::${_module})
      add_library(RDKit::${_module} SHARED IMPORTED)
      set_target_properties(RDKit::${_module} PROPERTIES IMPORTED_LOCATION "${RDKit_${_module}_LIBRARY}"
                                                        INTERFACE_INCLUDE_DIRECTORIES "${RDKit_INCLUDE_DIR}")
    endif()
  endforeach()

  foreach(_module IN LISTS _rdkit_all_modules)
    if(DEFINED _rdkit_deps_${_module})
      set(_deps ${_rdkit_deps_${_module}})
    else()
      set(_deps ${_rdkit_deps_default})
    endif()
    set(_links "")
    foreach(_dep IN LISTS _deps)
      if(TARGET RDKit::${_dep} AND NOT _dep STREQUAL _module)
        list(APPEND _links RDKit::${_dep})
      endif()
    endforeach()
    if(_module STREQUAL "RDGeneral")
      # The root of every chain: the headers' own dependencies hang here.
      if(TARGET Boost::headers)
        list(APPEND _links Boost::headers)
      endif()
      if(TARGET Eigen3::Eigen)
        list(APPEND _links Eigen3::Eigen)
      endif()
    endif()
    set_property(TARGET RDKit::${_module} PROPERTY INTERFACE_LINK_LIBRARIES "${_links}")
  endforeach()
endif()

set(RDKit_LIBRARIES "")
foreach(_c IN LISTS _rdkit_components)
  if(TARGET RDKit::${_c})
    set(RDKit_${_c}_FOUND TRUE)
    list(APPEND RDKit_LIBRARIES RDKit::${_c})
  else()
    set(RDKit_${_c}_FOUND FALSE)
  endif()
endforeach()
set(RDKit_INCLUDE_DIRS "${RDKit_INCLUDE_DIR}")

set(_rdkit_reason "")
if(RDKit_INCLUDE_DIR AND NOT RDKit_Boost_headers_FOUND)
  set(_rdkit_reason "RDKit's headers need Boost's (Debian: libboost-dev).")
endif()
find_package_handle_standard_args(RDKit
  REASON_FAILURE_MESSAGE "${_rdkit_reason}"
  REQUIRED_VARS RDKit_INCLUDE_DIR RDKit_RDGeneral_LIBRARY RDKit_Boost_headers_FOUND
  VERSION_VAR RDKit_VERSION
  HANDLE_COMPONENTS)

unset(_rdkit_components)
unset(_rdkit_reason)
unset(_rdkit_default_components)
unset(_rdkit_files)
unset(_rdkit_all_modules)
unset(_rdkit_real)
unset(_rdkit_libdir)
