# FindUtf8proc: the utf8proc Unicode library (Debian: libutf8proc-dev) as utf8proc::utf8proc.
#
#   find_package(Utf8proc [REQUIRED])
#
# Debian ships libutf8proc.pc but no CMake config; this needs neither. Hints: Utf8proc_ROOT (CMake or
# environment variable) = the install prefix.
# Results: Utf8proc_FOUND, Utf8proc_INCLUDE_DIR, Utf8proc_LIBRARY, target utf8proc::utf8proc.

include(FindPackageHandleStandardArgs)

find_path(Utf8proc_INCLUDE_DIR NAMES utf8proc.h HINTS ${Utf8proc_ROOT} ENV Utf8proc_ROOT PATH_SUFFIXES include)
find_library(Utf8proc_LIBRARY NAMES utf8proc HINTS ${Utf8proc_ROOT} ENV Utf8proc_ROOT PATH_SUFFIXES lib lib64)
mark_as_advanced(Utf8proc_INCLUDE_DIR Utf8proc_LIBRARY)
find_package_handle_standard_args(Utf8proc REQUIRED_VARS Utf8proc_LIBRARY Utf8proc_INCLUDE_DIR)

if(Utf8proc_FOUND AND NOT TARGET utf8proc::utf8proc)
  add_library(utf8proc::utf8proc UNKNOWN IMPORTED)
  set_target_properties(utf8proc::utf8proc PROPERTIES IMPORTED_LOCATION "${Utf8proc_LIBRARY}"
                        INTERFACE_INCLUDE_DIRECTORIES "${Utf8proc_INCLUDE_DIR}")
endif()
