# libprotobuf-lite for the wasm build, compiled from Debian's source of the same protobuf version
# whose protoc generates our code (tools/install-deps unpacks it into .deps/protobuf-src).
set(KPG_PROTOBUF_SOURCE_DIR "${CMAKE_SOURCE_DIR}/.deps/protobuf-src"
    CACHE PATH "protobuf source tree (the version of the system protoc)")
if(NOT EXISTS "${KPG_PROTOBUF_SOURCE_DIR}/src/google/protobuf/message_lite.h")
  message(FATAL_ERROR "protobuf source not found at ${KPG_PROTOBUF_SOURCE_DIR}; "
                      "run tools/install-deps (it fetches Debian's protobuf source)")
endif()

# The host's protoc: the emscripten toolchain re-roots find_* into its sysroot, so opt out.
find_program(KPG_PROTOC protoc REQUIRED NO_CMAKE_FIND_ROOT_PATH)
execute_process(COMMAND ${KPG_PROTOC} --version OUTPUT_VARIABLE _protoc_version
                OUTPUT_STRIP_TRAILING_WHITESPACE)
message(STATUS "wasm: ${_protoc_version} with protobuf source ${KPG_PROTOBUF_SOURCE_DIR}")

set(protobuf_BUILD_TESTS OFF CACHE BOOL "" FORCE)
set(protobuf_BUILD_PROTOC_BINARIES OFF CACHE BOOL "" FORCE)
set(protobuf_BUILD_LIBPROTOC OFF CACHE BOOL "" FORCE)
set(protobuf_WITH_ZLIB OFF CACHE BOOL "" FORCE)
set(protobuf_INSTALL OFF CACHE BOOL "" FORCE)
set(protobuf_BUILD_SHARED_LIBS OFF CACHE BOOL "" FORCE)
add_subdirectory("${KPG_PROTOBUF_SOURCE_DIR}" "${CMAKE_BINARY_DIR}/_protobuf" EXCLUDE_FROM_ALL
                 SYSTEM)
set(KPG_PROTOBUF_LITE libprotobuf-lite)
