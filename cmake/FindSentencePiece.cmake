# FindSentencePiece: Google's SentencePiece C++ library (Debian: libsentencepiece-dev) as
# SentencePiece::SentencePiece.
#
#   find_package(SentencePiece [REQUIRED])
#
# Debian ships sentencepiece.pc (which also links the trainer, not needed here) but no CMake config;
# this needs neither. Hints: SentencePiece_ROOT (CMake or environment variable) = the install prefix.
# Results: SentencePiece_FOUND, SentencePiece_INCLUDE_DIR, SentencePiece_LIBRARY, target SentencePiece::SentencePiece.

include(FindPackageHandleStandardArgs)

find_path(SentencePiece_INCLUDE_DIR NAMES sentencepiece_processor.h HINTS ${SentencePiece_ROOT}
          ENV SentencePiece_ROOT PATH_SUFFIXES include)
find_library(SentencePiece_LIBRARY NAMES sentencepiece HINTS ${SentencePiece_ROOT} ENV SentencePiece_ROOT
             PATH_SUFFIXES lib lib64)
mark_as_advanced(SentencePiece_INCLUDE_DIR SentencePiece_LIBRARY)
find_package_handle_standard_args(SentencePiece REQUIRED_VARS SentencePiece_LIBRARY SentencePiece_INCLUDE_DIR)

if(SentencePiece_FOUND AND NOT TARGET SentencePiece::SentencePiece)
  add_library(SentencePiece::SentencePiece UNKNOWN IMPORTED)
  set_target_properties(SentencePiece::SentencePiece PROPERTIES IMPORTED_LOCATION "${SentencePiece_LIBRARY}"
                        INTERFACE_INCLUDE_DIRECTORIES "${SentencePiece_INCLUDE_DIR}")
endif()
