# FindMinizip: minizip 1.x (zlib's contrib/minizip; Debian: libminizip-dev) as minizip::minizip.
#
#   find_package(Minizip [REQUIRED])
#
# molm includes it as <minizip/unzip.h>, so the include directory is the one holding minizip/.
# unzip.h includes zlib.h, so the target also brings ZLIB::ZLIB (which molm calls directly too).
# Debian ships a minizip.pc but no CMake config; this needs neither pkg-config nor a config.
#
# Hints: Minizip_ROOT (CMake or environment variable) = the install prefix.
# Results: Minizip_FOUND, Minizip_INCLUDE_DIR, Minizip_LIBRARY, target minizip::minizip.

include(FindPackageHandleStandardArgs)
include(CMakeFindDependencyMacro)

find_path(Minizip_INCLUDE_DIR NAMES minizip/unzip.h HINTS ${Minizip_ROOT} ENV Minizip_ROOT PATH_SUFFIXES include)
find_library(Minizip_LIBRARY NAMES minizip HINTS ${Minizip_ROOT} ENV Minizip_ROOT PATH_SUFFIXES lib lib64)
mark_as_advanced(Minizip_INCLUDE_DIR Minizip_LIBRARY)

find_package(ZLIB QUIET)
find_package_handle_standard_args(Minizip REQUIRED_VARS Minizip_LIBRARY Minizip_INCLUDE_DIR ZLIB_FOUND)

if(Minizip_FOUND AND NOT TARGET minizip::minizip)
  add_library(minizip::minizip UNKNOWN IMPORTED)
  set_target_properties(minizip::minizip PROPERTIES IMPORTED_LOCATION "${Minizip_LIBRARY}"
                                                    INTERFACE_INCLUDE_DIRECTORIES "${Minizip_INCLUDE_DIR}"
                                                    INTERFACE_LINK_LIBRARIES ZLIB::ZLIB)
endif()
