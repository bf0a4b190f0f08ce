# Cross-compiling for aarch64 (Jetson-class CPUs) with Debian's aarch64-linux-gnu-g++ against a Debian arm64
# sysroot (scripts/lane.sh arm64 makes one with mmdebstrap). -DEC_SYSROOT=DIR. Tests run under qemu-aarch64:
# ctest starts them through CMAKE_CROSSCOMPILING_EMULATOR; QEMU_CPU picks the emulated core.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
if(NOT EC_SYSROOT)
  message(FATAL_ERROR "set -DEC_SYSROOT=<arm64 sysroot>")
endif()
set(CMAKE_SYSROOT ${EC_SYSROOT})
list(APPEND CMAKE_TRY_COMPILE_PLATFORM_VARIABLES EC_SYSROOT)
set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_CXX_COMPILER aarch64-linux-gnu-g++)
set(CMAKE_FIND_ROOT_PATH ${EC_SYSROOT})
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)   # protoc and the like run on the build machine
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)
set(CMAKE_CROSSCOMPILING_EMULATOR qemu-aarch64-static -L ${EC_SYSROOT})
# the host's protoc writes the generated code; it must match the sysroot's libprotobuf (both Debian 12: 3.21)
find_program(Protobuf_PROTOC_EXECUTABLE protoc)
set(ENV{PKG_CONFIG_SYSROOT_DIR} ${EC_SYSROOT})
set(ENV{PKG_CONFIG_LIBDIR} ${EC_SYSROOT}/usr/lib/aarch64-linux-gnu/pkgconfig:${EC_SYSROOT}/usr/share/pkgconfig)
# a portable ARMv8.0 binary: the same build runs on a Nano's Cortex-A57 and an Orin's A78AE; faster paths are
# chosen at run time (XNNPACK dispatches NEON, dot-product and fp16 kernels by the CPU it finds)
set(EC_NATIVE_ARCH OFF CACHE BOOL "" FORCE)
