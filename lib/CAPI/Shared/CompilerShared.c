/*===- CompilerShared.c - libquant-compiler.so ----------------*- C -*-===*\
|*                                                                        *|
|* Part of quant. The shared library's own source is empty: its code is    *|
|* QuantCAPI's archive, linked whole (see CMakeLists.txt here).           *|
|*                                                                        *|
\*===----------------------------------------------------------------------===*/

#include "quant-c/Compiler.h"
