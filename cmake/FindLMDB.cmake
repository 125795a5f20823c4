# FindLMDB: the Lightning Memory-Mapped Database (Debian: liblmdb-dev) as LMDB::LMDB.
#
#   find_package(LMDB [REQUIRED])
#
# Debian ships lmdb.pc but no CMake config; this needs neither pkg-config nor a config.
# Hints: LMDB_ROOT (CMake or environment variable) = the install prefix.
# Results: LMDB_FOUND, LMDB_INCLUDE_DIR, LMDB_LIBRARY, target LMDB::LMDB.

include(FindPackageHandleStandardArgs)

find_path(LMDB_INCLUDE_DIR NAMES lmdb.h HINTS ${LMDB_ROOT} ENV LMDB_ROOT PATH_SUFFIXES include)
find_library(LMDB_LIBRARY NAMES lmdb HINTS ${LMDB_ROOT} ENV LMDB_ROOT PATH_SUFFIXES lib lib64)
mark_as_advanced(LMDB_INCLUDE_DIR LMDB_LIBRARY)
find_package_handle_standard_args(LMDB REQUIRED_VARS LMDB_LIBRARY LMDB_INCLUDE_DIR)

if(LMDB_FOUND AND NOT TARGET LMDB::LMDB)
  add_library(LMDB::LMDB UNKNOWN IMPORTED)
  set_target_properties(LMDB::LMDB PROPERTIES IMPORTED_LOCATION "${LMDB_LIBRARY}"
                                              INTERFACE_INCLUDE_DIRECTORIES "${LMDB_INCLUDE_DIR}")
endif()
